//! The kernel module load plan: waves of modules whose dependencies are all loaded.

use std::collections::BTreeSet;

/// Splits `modules.compose` (`path: dep dep` lines, dependencies first) into waves: every
/// module of a wave depends only on modules of earlier waves.
pub fn waves(list: &str) -> Vec<Vec<String>> {
    let mut pending: Vec<(String, Vec<String>)> = list
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (path, deps) = l.split_once(':').unwrap_or((l, ""));
            (
                path.trim().to_string(),
                deps.split_whitespace().map(str::to_string).collect(),
            )
        })
        .collect();
    let listed: BTreeSet<String> = pending.iter().map(|(p, _)| p.clone()).collect();
    let mut loaded: BTreeSet<String> = BTreeSet::new();
    let mut waves = Vec::new();
    while !pending.is_empty() {
        // Dependencies outside the list (built in, or missing) do not hold a module back.
        let (ready, rest): (Vec<_>, Vec<_>) = pending.into_iter().partition(|(_, deps)| {
            deps.iter()
                .all(|d| loaded.contains(d) || !listed.contains(d))
        });
        if ready.is_empty() {
            // A cycle: load the rest in list order, one by one.
            waves.extend(rest.into_iter().map(|(p, _)| vec![p]));
            break;
        }
        loaded.extend(ready.iter().map(|(p, _)| p.clone()));
        waves.push(ready.into_iter().map(|(p, _)| p).collect());
        pending = rest;
    }
    waves
}

#[cfg(test)]
mod tests {
    use super::waves;

    #[test]
    fn independent_modules_share_a_wave() {
        let list = "virtio.ko:\nvirtio_ring.ko:\nvirtio_blk.ko: virtio.ko virtio_ring.ko\ncrc16.ko:\next4.ko: crc16.ko\noverlay.ko:\n";
        assert_eq!(
            waves(list),
            [
                vec!["virtio.ko", "virtio_ring.ko", "crc16.ko", "overlay.ko"],
                vec!["virtio_blk.ko", "ext4.ko"]
            ]
        );
        assert_eq!(
            waves("a.ko\nb.ko\n"),
            [vec!["a.ko", "b.ko"]],
            "the old format without dependencies"
        );
    }
}
