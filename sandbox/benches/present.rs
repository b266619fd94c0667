//! What presenting a frame of a WASI app's window costs the host (a bench command): a
//! 1920x1080 window in the headless shell, a full frame against a small damaged rectangle
//! (a 32x32 brush stroke), as CPU time of the presenting thread per present (copying into
//! the shared buffer, damage, commit; waiting for the shell's frame callback costs none)
//! and as wall time per paced frame.
//!
//! Run with `cargo bench -p compose-sandbox --bench present`.

use std::time::{Duration, Instant};

use compose_sandbox::window::{CreateDesc, Rect, Window};
use compose_shells::compositor::{Command, Options, run};
use compose_shells::smithay::reexports::calloop::channel::channel;

const FRAMES: usize = 120;

fn thread_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("shell-0");
    let (control, commands) = channel();
    // The gaming shell shows one window over the whole 1920x1080 screen.
    let gaming = compose_shells::definition::builtin()
        .into_iter()
        .find(|s| s.name == "gaming")
        .unwrap();
    let options = Options::headless(socket.to_str().unwrap(), gaming, 1920, 1080);
    let shell = std::thread::spawn(move || run(options, commands));
    while !socket.exists() {
        std::thread::sleep(Duration::from_millis(20));
    }
    let desc = CreateDesc {
        title: "bench".into(),
        width: 1920,
        height: 1080,
    };
    let mut window = Window::open(&socket, "bench", &desc).expect("a window in the shell");
    let (w, h) = window.size();
    let full = Rect {
        x: 0,
        y: 0,
        width: w,
        height: h,
    };
    let small = Rect {
        x: w / 2,
        y: h / 2,
        width: 32,
        height: 32,
    };
    let frame = vec![0x80u8; w as usize * h as usize * 4];
    let brush = vec![0x20u8; 32 * 32 * 4];
    for (name, rect, pixels) in [
        ("full frame", full, &frame),
        ("32x32 damage", small, &brush),
    ] {
        let (mut cpu, mut wall) = (Vec::new(), Vec::new());
        for _ in 0..FRAMES {
            let (c, t) = (thread_cpu(), Instant::now());
            window.present(&[rect], pixels).expect("present");
            cpu.push(thread_cpu() - c);
            wall.push(t.elapsed());
        }
        println!(
            "{w}x{h} window, {name}: host CPU per present median {:?}, wall per paced frame median {:?} ({FRAMES} frames)",
            median(cpu),
            median(wall)
        );
    }
    drop(window);
    control.send(Command::Stop).unwrap();
    shell.join().unwrap().unwrap();
}
