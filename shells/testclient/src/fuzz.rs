//! Random but well-formed requests, for `scripts/fuzz wayland`: windows opened with odd titles
//! and app ids, drawn at random sizes, given size limits, made fullscreen or maximized,
//! given subsurfaces at extreme positions and popups, animated and closed, in an order a
//! seeded generator picks (the same seed, the same requests). The compositor may end the
//! client with a protocol error, as is its right; it must neither crash nor stall.

use super::{Client, ClientError, WindowIndex, draw};

/// xorshift64*: small, seeded, reproducible.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn range(&mut self, low: i32, high: i32) -> i32 {
        low + self.below((high - low + 1) as u64) as i32
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> Option<T> {
        (!items.is_empty()).then(|| items[self.below(items.len() as u64) as usize])
    }

    /// Text of any length up to 300 characters, ASCII, control characters and wide ones.
    fn text(&mut self) -> String {
        const PIECES: [&str; 8] = ["a", "Z", " ", "\t", "é", "窓", "🪟", "\u{202e}"];
        let len = match self.below(4) {
            0 => 0,
            1 => self.below(8),
            2 => self.below(40),
            _ => self.below(300),
        };
        (0..len)
            .map(|_| PIECES[self.below(PIECES.len() as u64) as usize])
            .collect()
    }

    fn color(&mut self) -> [u8; 4] {
        let v = self.next().to_le_bytes();
        [v[0], v[1], v[2], 0xff]
    }
}

impl Client {
    /// Sends `count` random requests (each step one to a few), seeded by `seed`. Returns
    /// how many steps ran before the compositor ended the client, if it did.
    pub fn random_requests(&mut self, seed: u64, count: usize) -> Result<usize, ClientError> {
        let mut rng = Rng::new(seed);
        for step in 0..count {
            if let Err(e) = self.random_step(&mut rng) {
                return match self.protocol_error() {
                    Some(_) => Ok(step),
                    None => Err(e),
                };
            }
            if step % 16 == 15
                && let Err(e) = self.roundtrip()
            {
                return match self.protocol_error() {
                    Some(_) => Ok(step),
                    None => Err(e),
                };
            }
        }
        match self.roundtrip() {
            Err(e) if self.protocol_error().is_none() => Err(e),
            _ => Ok(count),
        }
    }

    fn random_step(&mut self, rng: &mut Rng) -> Result<(), ClientError> {
        self.flush_blocking()?;
        let open: Vec<WindowIndex> = (0..self.state.windows.len())
            .filter(|&i| {
                let w = &self.state.windows[i];
                !w.closed && w.toplevel.is_some()
            })
            .collect();
        let drawn: Vec<WindowIndex> = open
            .iter()
            .copied()
            .filter(|&i| self.state.windows[i].drawn.is_some())
            .collect();
        match (rng.below(11), rng.pick(&open), rng.pick(&drawn)) {
            (0, _, _) | (_, None, _) if open.len() < 8 => {
                let (app_id, title, color) = (rng.text(), rng.text(), rng.color());
                self.open(&app_id, &title, color);
            }
            (1, _, Some(at)) => {
                // A new buffer of any size: the compositor decides what it shows.
                let size = (rng.range(1, 2500), rng.range(1, 2500));
                let w = &mut self.state.windows[at];
                w.drawn = Some(size);
                let surface = w.surface.clone().expect("open window");
                draw(
                    &self.state.globals,
                    &self.handle,
                    &surface,
                    size.0,
                    size.1,
                    w.color,
                )?;
            }
            (2, Some(at), _) => {
                let on = rng.below(2) == 0;
                self.set_fullscreen(at, on);
            }
            (3, Some(at), _) => {
                let on = rng.below(2) == 0;
                self.set_maximized(at, on);
            }
            (4, _, Some(at)) => {
                let position = (rng.range(-40_000, 40_000), rng.range(-40_000, 40_000));
                let size = (rng.range(1, 400), rng.range(1, 400));
                let color = rng.color();
                self.subsurface(at, position, size, color)?;
            }
            (5, _, Some(at)) => {
                let anchor = (
                    rng.range(-100, 2000),
                    rng.range(-100, 2000),
                    rng.range(1, 300),
                    rng.range(1, 300),
                );
                let size = (rng.range(1, 1500), rng.range(1, 1500));
                let color = rng.color();
                self.popup(at, anchor, size, color)?;
            }
            (6, Some(at), _) => self.close(at),
            (7, _, Some(at)) => self.animate(at),
            (8, Some(at), _) => {
                let title = rng.text();
                let (min, max) = (
                    (rng.range(0, 3000), rng.range(0, 3000)),
                    (rng.range(0, 3000), rng.range(0, 3000)),
                );
                if let Some(t) = &self.state.windows[at].toplevel {
                    t.set_title(title);
                    // Limits may contradict each other: that is the compositor's problem.
                    t.set_min_size(min.0, min.1);
                    t.set_max_size(max.0, max.1);
                }
                // A buffer only once configured: before, it is a protocol error by the client.
                if self.state.windows[at].drawn.is_some() {
                    self.redraw(at)?;
                } else {
                    self.state.windows[at]
                        .surface
                        .as_ref()
                        .expect("open window")
                        .commit();
                }
            }
            (9, _, Some(at)) => {
                self.commit_to_frame(at)?;
            }
            _ => self.roundtrip()?,
        }
        self.flush_blocking()
    }
}

#[cfg(test)]
mod tests {
    use super::Rng;

    #[test]
    fn the_same_seed_gives_the_same_requests() {
        let (mut a, mut b, mut c) = (Rng::new(7), Rng::new(7), Rng::new(8));
        let (xa, xb, xc): (Vec<u64>, Vec<u64>, Vec<u64>) = (
            (0..16).map(|_| a.next()).collect(),
            (0..16).map(|_| b.next()).collect(),
            (0..16).map(|_| c.next()).collect(),
        );
        assert_eq!(xa, xb);
        assert_ne!(xa, xc);
    }
}
