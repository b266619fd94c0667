//! Helpers shared by the resolver tests: load a DSL catalog, render a resolution as text.

#![allow(dead_code)]

use compose_core::resolve::{Resolution, ResolveError};
use compose_core::{Catalog, dsl};

/// Loads a catalog written in the DSL of `compose_core::dsl`, panicking with diagnostics.
pub fn catalog(text: &str) -> Catalog {
    let (manifests, devices) = dsl::files(text);
    match Catalog::load(&manifests, &devices) {
        Ok(loaded) => loaded.catalog,
        Err(diags) => panic!(
            "test catalog is invalid:\n{:#?}",
            diags.iter().map(|d| d.to_record()).collect::<Vec<_>>()
        ),
    }
}

/// One line per chosen component in start order, then dropped recommends, or the error.
pub fn render(result: &Result<Resolution, ResolveError>) -> String {
    let mut out = String::new();
    match result {
        Ok(r) => {
            for c in &r.components {
                let features = if c.features.is_empty() {
                    String::new()
                } else {
                    format!(" [{}]", c.features.join(","))
                };
                out.push_str(&format!("{} {}{features}\n", c.name, c.version));
            }
            for d in &r.dropped {
                out.push_str(&format!(
                    "dropped: {} recommends {}\n",
                    d.component, d.requirement
                ));
                for f in &d.because {
                    out.push_str(&format!("  {f}\n"));
                }
            }
        }
        Err(e) => {
            out.push_str(&format!("error: {e}\n"));
            if let ResolveError::NoSolution { facts, .. } = e {
                for f in facts {
                    out.push_str(&format!("  {f}\n"));
                }
            }
        }
    }
    out
}
