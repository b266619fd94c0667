//! wordcount: lines, words and bytes of each file named (or of stdin), and their total,
//! as `wc` prints them. It sees only the folders its manifest grants.

use std::io::Read;

fn count(text: &[u8]) -> (usize, usize, usize) {
    let lines = text.iter().filter(|b| **b == b'\n').count();
    let words = text
        .split(|b| b.is_ascii_whitespace())
        .filter(|w| !w.is_empty())
        .count();
    (lines, words, text.len())
}

fn main() {
    let files: Vec<String> = std::env::args().skip(1).collect();
    let mut total = (0, 0, 0);
    let mut failed = false;
    if files.is_empty() {
        let mut text = Vec::new();
        if let Err(e) = std::io::stdin().read_to_end(&mut text) {
            eprintln!("wordcount: stdin: {e}");
            std::process::exit(1);
        }
        let (l, w, b) = count(&text);
        println!("{l:>7} {w:>7} {b:>7}");
        return;
    }
    for file in &files {
        match std::fs::read(file) {
            Ok(text) => {
                let (l, w, b) = count(&text);
                println!("{l:>7} {w:>7} {b:>7} {file}");
                total = (total.0 + l, total.1 + w, total.2 + b);
            }
            Err(e) => {
                eprintln!("wordcount: {file}: {e}");
                failed = true;
            }
        }
    }
    if files.len() > 1 {
        println!("{:>7} {:>7} {:>7} total", total.0, total.1, total.2);
    }
    if failed {
        std::process::exit(1);
    }
}
