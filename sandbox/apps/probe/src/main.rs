//! probe: tries one thing inside the sandbox and reports `ok: ...` (exit 0) or
//! `denied: ...` (exit 1). `probe read PATH`, `write PATH TEXT`, `list DIR`,
//! `connect HOST:PORT`, `udp HOST:PORT` (a datagram and its answer), `lookup NAME`, `alloc MIB`, `spin`, `env NAME`.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs, UdpSocket};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).cloned().unwrap_or_default();
    let result: Result<String, String> = match arg(0).as_str() {
        "read" => std::fs::read_to_string(arg(1)).map_err(|e| e.to_string()),
        "write" => std::fs::write(arg(1), arg(2))
            .map(|()| format!("wrote {}", arg(1)))
            .map_err(|e| e.to_string()),
        "list" => std::fs::read_dir(arg(1))
            .map_err(|e| e.to_string())
            .map(|entries| {
                let mut names: Vec<String> = entries
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect();
                names.sort();
                names.join(" ")
            }),
        "connect" => TcpStream::connect(arg(1))
            .and_then(|mut s| {
                s.write_all(b"ping\n")?;
                let mut answer = String::new();
                s.read_to_string(&mut answer)?;
                Ok(answer.trim().to_string())
            })
            .map_err(|e| e.to_string()),
        "udp" => UdpSocket::bind("0.0.0.0:0")
            .and_then(|s| {
                // wasip2 has no receive timeout; the test's server always answers.
                s.send_to(b"ping", arg(1))?;
                let mut answer = [0u8; 64];
                let (n, _) = s.recv_from(&mut answer)?;
                Ok(String::from_utf8_lossy(&answer[..n]).into_owned())
            })
            .map_err(|e| e.to_string()),
        "lookup" => (arg(1).as_str(), 80)
            .to_socket_addrs()
            .map(|a| a.map(|a| a.ip().to_string()).collect::<Vec<_>>().join(" "))
            .map_err(|e| e.to_string()),
        "alloc" => {
            let mib: usize = arg(1).parse().unwrap_or(1);
            let mut v: Vec<u8> = Vec::new();
            match v.try_reserve_exact(mib << 20) {
                Ok(()) => {
                    v.resize(mib << 20, 1);
                    Ok(format!("allocated {} MiB", v.len() >> 20))
                }
                Err(e) => Err(e.to_string()),
            }
        }
        "spin" => {
            let mut n: u64 = 0;
            loop {
                n = std::hint::black_box(n.wrapping_add(1));
            }
        }
        "env" => std::env::var(arg(1)).map_err(|e| e.to_string()),
        other => Err(format!("unknown probe `{other}`")),
    };
    match result {
        Ok(out) => println!("ok: {out}"),
        Err(e) => {
            eprintln!("denied: {e}");
            std::process::exit(1);
        }
    }
}
