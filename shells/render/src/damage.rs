//! Rectangle maths of damage tracking, shared by both renderers: logical to physical
//! pixels, intersection, union, subtraction, and sets of rectangles that never overlap
//! (so that nothing is blended twice).

use compose_shell_policy::Rect;

/// More damaged rectangles than this are drawn as their bounding box (a frame of many
/// small changes costs more in bookkeeping than in pixels).
pub const MAX_DAMAGE_RECTS: usize = 64;

/// `rect` (output coordinates, logical pixels) in physical pixels at `scale`, rounded
/// outwards so that every pixel the rectangle touches is inside.
pub fn physical(rect: Rect, scale: f32) -> Rect {
    let x0 = (rect.x as f32 * scale).floor();
    let y0 = (rect.y as f32 * scale).floor();
    let x1 = ((rect.x as f32 + rect.width as f32) * scale).ceil();
    let y1 = ((rect.y as f32 + rect.height as f32) * scale).ceil();
    Rect {
        x: x0 as i32,
        y: y0 as i32,
        width: (x1 - x0).max(0.0) as u32,
        height: (y1 - y0).max(0.0) as u32,
    }
}

/// The smallest rectangle holding both.
pub fn union(a: Rect, b: Rect) -> Rect {
    let x0 = a.x.min(b.x) as i64;
    let y0 = a.y.min(b.y) as i64;
    let x1 = right(a).max(right(b));
    let y1 = bottom(a).max(bottom(b));
    Rect {
        x: x0 as i32,
        y: y0 as i32,
        width: (x1 - x0) as u32,
        height: (y1 - y0) as u32,
    }
}

/// What both cover, if anything.
pub fn intersect(a: Rect, b: Rect) -> Option<Rect> {
    let x0 = a.x.max(b.x) as i64;
    let y0 = a.y.max(b.y) as i64;
    let x1 = right(a).min(right(b));
    let y1 = bottom(a).min(bottom(b));
    (x1 > x0 && y1 > y0).then(|| Rect {
        x: x0 as i32,
        y: y0 as i32,
        width: (x1 - x0) as u32,
        height: (y1 - y0) as u32,
    })
}

/// `a` without `b`: at most four rectangles (bands above and below `b`, then the parts
/// left and right of it), which do not overlap.
pub fn subtract(a: Rect, b: Rect) -> Vec<Rect> {
    let Some(cut) = intersect(a, b) else {
        return vec![a];
    };
    let mut out = Vec::with_capacity(4);
    let span = |x0: i64, y0: i64, x1: i64, y1: i64| {
        (x1 > x0 && y1 > y0).then(|| Rect {
            x: x0 as i32,
            y: y0 as i32,
            width: (x1 - x0) as u32,
            height: (y1 - y0) as u32,
        })
    };
    let (ax0, ay0, ax1, ay1) = (a.x as i64, a.y as i64, right(a), bottom(a));
    let (cx0, cy0, cx1, cy1) = (cut.x as i64, cut.y as i64, right(cut), bottom(cut));
    out.extend(span(ax0, ay0, ax1, cy0));
    out.extend(span(ax0, cy1, ax1, ay1));
    out.extend(span(ax0, cy0, cx0, cy1));
    out.extend(span(cx1, cy0, ax1, cy1));
    out
}

/// `rects` (which do not overlap) without any of `holes`; the result does not overlap.
pub fn subtract_all(mut rects: Vec<Rect>, holes: &[Rect]) -> Vec<Rect> {
    for hole in holes {
        if rects.is_empty() {
            break;
        }
        rects = rects.into_iter().flat_map(|r| subtract(r, *hole)).collect();
    }
    rects
}

/// Rectangles covering exactly the pixels of `rects`, none overlapping: each rectangle
/// adds only what the ones before it did not cover. More than `max` become their
/// bounding box.
pub fn disjoint(rects: Vec<Rect>, max: usize) -> Vec<Rect> {
    let mut out: Vec<Rect> = Vec::new();
    for r in rects.into_iter().filter(|r| r.width > 0 && r.height > 0) {
        let new = subtract_all(vec![r], &out);
        out.extend(new);
    }
    if out.len() > max {
        return bounding(&out).into_iter().collect();
    }
    out
}

/// What an upload of a `size` buffer copies: all of it when `everything` (a new or
/// resized image, or no damage given), else its `damage` clipped to it.
pub fn upload_regions(size: (u32, u32), damage: &[Rect], everything: bool) -> Vec<Rect> {
    let whole = Rect {
        x: 0,
        y: 0,
        width: size.0,
        height: size.1,
    };
    if everything {
        vec![whole]
    } else {
        damage.iter().filter_map(|d| intersect(*d, whole)).collect()
    }
}

/// The smallest rectangle holding all of `rects`.
pub fn bounding(rects: &[Rect]) -> Option<Rect> {
    rects.iter().copied().reduce(union)
}

fn right(r: Rect) -> i64 {
    r.x as i64 + r.width as i64
}

fn bottom(r: Rect) -> i64 {
    r.y as i64 + r.height as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rect() -> impl Strategy<Value = Rect> {
        (-20i32..60, -20i32..60, 0u32..40, 0u32..40).prop_map(|(x, y, width, height)| Rect {
            x,
            y,
            width,
            height,
        })
    }

    fn covers(rects: &[Rect], x: i32, y: i32) -> usize {
        let point = Rect {
            x,
            y,
            width: 1,
            height: 1,
        };
        rects
            .iter()
            .filter(|r| intersect(**r, point).is_some())
            .count()
    }

    proptest! {
        /// Every pixel of the input is covered, and no two output rectangles share one;
        /// below the cap, nothing else is.
        #[test]
        fn disjoint_covers_its_input_and_never_overlaps(rects in prop::collection::vec(rect(), 0..12), max in 1usize..80) {
            let out = disjoint(rects.clone(), max);
            if out.len() > 1 || rects.iter().filter(|r| r.width > 0 && r.height > 0).count() <= 1 {
                for r in &out {
                    for y in r.y..r.y + r.height as i32 {
                        for x in r.x..r.x + r.width as i32 {
                            prop_assert!(covers(&rects, x, y) >= 1, "({x}, {y}) of {r:?} was not damaged");
                        }
                    }
                }
            }
            for (i, a) in out.iter().enumerate() {
                for b in &out[i + 1..] {
                    prop_assert!(intersect(*a, *b).is_none(), "{a:?} overlaps {b:?}");
                }
            }
            for r in &rects {
                for y in r.y..r.y + r.height as i32 {
                    for x in r.x..r.x + r.width as i32 {
                        prop_assert!(covers(&out, x, y) == 1, "({x}, {y}) of {r:?}");
                    }
                }
            }
        }

        /// `a - b` is exactly the pixels of `a` outside `b`, each once.
        #[test]
        fn subtract_leaves_exactly_what_the_hole_does_not_cover(a in rect(), b in rect()) {
            let out = subtract(a, b);
            for y in -25..105 {
                for x in -25..105 {
                    let want = usize::from(covers(&[a], x, y) == 1 && covers(&[b], x, y) == 0);
                    prop_assert_eq!(covers(&out, x, y), want, "({}, {})", x, y);
                }
            }
        }

        /// The intersection holds exactly the pixels both hold; the union holds both.
        #[test]
        fn intersect_and_union_agree_with_pixels(a in rect(), b in rect()) {
            let both = intersect(a, b);
            let u = union(a, b);
            for y in -25..105 {
                for x in -25..105 {
                    let (in_a, in_b) = (covers(&[a], x, y) == 1, covers(&[b], x, y) == 1);
                    prop_assert_eq!(both.is_some_and(|r| covers(&[r], x, y) == 1), in_a && in_b);
                    if in_a || in_b {
                        prop_assert!(covers(&[u], x, y) == 1);
                    }
                }
            }
        }

        /// A logical rectangle at an integer scale is exactly scaled; at a fractional one
        /// the physical rectangle still holds every pixel the logical one touches.
        #[test]
        fn physical_rectangles_hold_their_logical_ones(r in rect(), scale in 1u32..4, frac in 0.0f32..1.0) {
            let p = physical(r, scale as f32);
            prop_assert_eq!(p, Rect {
                x: r.x * scale as i32,
                y: r.y * scale as i32,
                width: r.width * scale,
                height: r.height * scale,
            });
            let s = 1.0 + frac;
            let p = physical(r, s);
            prop_assert!(p.x as f32 <= r.x as f32 * s && p.y as f32 <= r.y as f32 * s);
            prop_assert!(right(p) as f32 >= (r.x as f32 + r.width as f32) * s);
            prop_assert!(bottom(p) as f32 >= (r.y as f32 + r.height as f32) * s);
        }
    }
}
