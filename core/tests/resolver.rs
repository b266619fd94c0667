//! Resolver behaviour on small catalogs written in the catalog DSL.

mod support;

use compose_core::resolve::{ResolveOptions, resolve};
use expect_test::{Expect, expect};

#[track_caller]
fn check(catalog: &str, expect: Expect) {
    check_with(catalog, &ResolveOptions::default(), expect);
}

#[track_caller]
fn check_with(catalog: &str, options: &ResolveOptions, expect: Expect) {
    let catalog = support::catalog(catalog);
    expect.assert_eq(&support::render(&resolve(&catalog, "d", options)));
}

#[test]
fn picks_highest_version_and_orders_dependencies_first() {
    check(
        r"
        app 1.0.0: requires lib >= 1
        lib 1.0.0
        lib 1.2.0
        lib 2.0.0
        device d: roots app
        ",
        expect![[r#"
            lib 2.0.0
            app 1.0.0
        "#]],
    );
}

#[test]
fn backtracks_to_an_older_version_when_the_newest_is_a_dead_end() {
    check(
        r"
        app 2.0.0: requires missing-cap-lib
        app 1.0.0: requires lib
        missing-cap-lib 1.0.0: needs gamepad
        lib 1.0.0
        device d: roots app
        ",
        expect![[r#"
            lib 1.0.0
            app 1.0.0
        "#]],
    );
}

#[test]
fn honours_prefer_for_virtuals_then_highest_version() {
    let catalog = r"
        a 1.0.0: provides shell
        b 3.0.0: provides shell
        device d: roots shell
        ";
    check(
        catalog,
        expect![[r#"
        b 3.0.0
    "#]],
    );
    check(
        &catalog.replace(
            "device d: roots shell",
            "device d: roots shell; prefer shell = a",
        ),
        expect![[r#"
            a 1.0.0
        "#]],
    );
}

#[test]
fn alternatives_take_the_first_that_works() {
    check(
        r"
        base 1.0.0: requires init-compose | init-busybox
        init-compose 0.1.0: needs serial
        init-busybox 1.35.0
        device d: roots base
        ",
        expect![[r#"
            init-busybox 1.35.0
            base 1.0.0
        "#]],
    );
}

#[test]
fn conflicts_force_the_other_provider() {
    check(
        r"
        app 1.0.0: requires net; conflicts iwd
        iwd 2.0.0: provides net
        dhcp 1.0.0: provides net
        device d: roots app
        ",
        expect![[r#"
            dhcp 1.0.0
            app 1.0.0
        "#]],
    );
}

#[test]
fn recommends_are_taken_when_possible_and_dropped_with_a_reason_otherwise() {
    check(
        r"
        app 1.0.0: recommends fonts, gamepad-tools
        fonts 1.0.0
        gamepad-tools 1.0.0: needs gamepad
        device d: roots app
        ",
        expect![[r#"
            fonts 1.0.0
            app 1.0.0
            dropped: app recommends gamepad-tools
              if the image takes gamepad-tools
              gamepad-tools 1.0.0 needs capability gamepad, which device d lacks
        "#]],
    );
}

#[test]
fn features_add_requirements() {
    check(
        r"
        app 1.0.0: requires tool[debug]
        tool 1.0.0: feature debug = gdb
        gdb 13.0.0
        device d: roots app
        ",
        expect![[r#"
            gdb 13.0.0
            tool 1.0.0 [debug]
            app 1.0.0
        "#]],
    );
}

#[test]
fn locked_versions_are_kept_while_they_fit() {
    let catalog = r"
        app 1.0.0: requires lib
        lib 1.0.0
        lib 1.1.0
        device d: roots app
        ";
    let locked = ResolveOptions {
        locked: [("lib".to_string(), "1.0.0".parse().unwrap())].into(),
        ..Default::default()
    };
    check_with(
        catalog,
        &locked,
        expect![[r#"
        lib 1.0.0
        app 1.0.0
    "#]],
    );
}

// The chain from the issue: laptop requires shell-desktop 0.2, which requires
// compositor >= 0.3, but the only compositor is 0.2.1.
#[test]
fn explains_an_unsatisfiable_chain() {
    check(
        r"
        shell-desktop 0.2.0: requires compositor >= 0.3
        compositor 0.2.1
        device d: roots shell-desktop 0.2
        ",
        expect![[r#"
            error: device `d` cannot be composed: no set of components satisfies every requirement
              device d requires shell-desktop ^0.2
              shell-desktop 0.2.0 requires compositor >=0.3
              but no version of compositor matches (the catalog has 0.2.1)
        "#]],
    );
}

#[test]
fn explains_a_missing_capability_and_a_conflict() {
    check(
        r"
        shell-gaming 1.0.0: requires input-gamepad
        input-gamepad 1.0.0: needs gamepad
        device d: roots shell-gaming
        ",
        expect![[r#"
            error: device `d` cannot be composed: no set of components satisfies every requirement
              device d requires shell-gaming
              shell-gaming 1.0.0 requires input-gamepad
              input-gamepad 1.0.0 needs capability gamepad, which device d lacks
        "#]],
    );
    check(
        r"
        a 1.0.0: conflicts b
        b 1.0.0
        device d: roots a, b
        ",
        expect![[r#"
            error: device `d` cannot be composed: no set of components satisfies every requirement
              device d requires a
              device d requires b
              a 1.0.0 conflicts with b
        "#]],
    );
}

#[test]
fn reports_the_full_cycle() {
    check(
        r"
        a 1.0.0: requires b
        b 1.0.0: requires c
        c 1.0.0: requires a
        device d: roots a
        ",
        expect![[r#"
            error: dependency cycle in device `d`: a -> b -> c -> a
        "#]],
    );
}

// Review: a cycle through a virtual named only the components, not what each was chosen for.
#[test]
fn a_cycle_through_virtuals_names_the_virtual_of_each_link() {
    check(
        r"
        shell 1.0.0: requires compositor
        weston 1.0.0: requires seat; provides compositor
        seatd 1.0.0: requires shell; provides seat
        device d: roots shell
        ",
        expect![[r#"
            error: dependency cycle in device `d`: seatd -> shell -> weston (for compositor) -> seatd (for seat)
        "#]],
    );
}

#[test]
fn unknown_device_is_an_error() {
    let catalog = support::catalog("a 1.0.0\ndevice d: roots a");
    let err = resolve(&catalog, "laptpo", &ResolveOptions::default()).unwrap_err();
    assert_eq!(err.to_string(), "unknown device `laptpo`");
}

// The lock file once took `a`; a newer, better-ranked provider must not move the image.
#[test]
fn locked_provider_is_kept_when_a_better_ranked_one_appears() {
    let catalog = r"
        a 1.0.0: provides shell
        b 3.0.0: provides shell
        device d: roots shell
        ";
    let locked = ResolveOptions {
        locked: [("a".to_string(), "1.0.0".parse().unwrap())].into(),
        ..Default::default()
    };
    check_with(
        catalog,
        &locked,
        expect![[r#"
        a 1.0.0
    "#]],
    );
}

// "Only one mta": a provider conflicting with its own virtual conflicts with the others.
#[test]
fn a_provider_may_conflict_with_its_own_virtual() {
    check(
        r"
        exim 4.0.0: provides mta; conflicts mta
        postfix 3.0.0: provides mta; conflicts mta
        app 1.0.0: requires mta
        device d: roots app, postfix
        ",
        expect![[r#"
            postfix 3.0.0
            app 1.0.0
        "#]],
    );
}

// A bare name matches pre-releases: `a` alone takes `a 1.0.0-rc.1`.
#[test]
fn bare_names_match_prereleases() {
    check(
        r"
        a 1.0.0-rc.1
        device d: roots a
        ",
        expect![[r#"
            a 1.0.0-rc.1
        "#]],
    );
}

// Review: `compose explain` said nothing of the versions it did not take.
#[test]
fn explain_says_why_each_version_was_not_taken() {
    let catalog = support::catalog(
        r"
        app 4.0.0: requires lib
        lib 1.0.0: conflicts app
        lib 2.0.0
        lib 2.5.0: requires helper >= 2
        helper 1.0.0
        lib 3.0.0: needs gpu
        device d: roots app
        ",
    );
    let mut options = ResolveOptions::default();
    expect![[r#"
        3.0.0 {"outcome":"impossible","because":[{"kind":"assumed","requirement":"lib =3.0.0","provider":null},{"kind":"missing-capability","component":"lib","versions":["3.0.0"],"capability":"gpu","device":"d"}]}
        2.5.0 {"outcome":"impossible","because":[{"kind":"assumed","requirement":"lib =2.5.0","provider":null},{"kind":"requires","component":"lib","versions":["2.5.0"],"requirement":"helper >=2"},{"kind":"no-matching-version","component":"helper","available":["1.0.0"]}]}
        2.0.0 {"outcome":"taken","reason":"the newest version that fits"}
        1.0.0 {"outcome":"impossible","because":[{"kind":"device-requires","device":"d","requirement":"app"},{"kind":"assumed","requirement":"lib =1.0.0","provider":null},{"kind":"conflicts","component":"lib","versions":["1.0.0"],"with":"app"}]}"#]]
    .assert_eq(&versions_of_lib(&catalog, &options));

    // Pinned by the lock while a newer version fits: both say so.
    options
        .locked
        .insert("lib".into(), "1.0.0".parse().unwrap());
    let catalog = support::catalog(
        r"
        app 4.0.0: requires lib
        lib 1.0.0
        lib 2.0.0
        device d: roots app
        ",
    );
    expect![[r#"
        2.0.0 {"outcome":"possible","reason":"compose.lock pins 1.0.0; `compose resolve --upgrade` takes the newest that fits"}
        1.0.0 {"outcome":"taken","reason":"pinned by compose.lock"}"#]]
    .assert_eq(&versions_of_lib(&catalog, &options));
}

/// `compose explain lib`'s versions, one line each: the version and its outcome as JSON.
fn versions_of_lib(catalog: &compose_core::catalog::Catalog, options: &ResolveOptions) -> String {
    let resolution = resolve(catalog, "d", options).unwrap();
    let x = compose_core::resolve::explain(catalog, &resolution, options, "lib").unwrap();
    x.versions
        .iter()
        .map(|v| {
            format!(
                "{} {}",
                v.version,
                serde_json::to_string(&v.outcome).unwrap()
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}
