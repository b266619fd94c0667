//! Pictures of a resolution: Graphviz DOT text, and SVG through the `dot` program.

use std::fmt::Write as _;
use std::io::Write as _;
use std::process::{Command, Stdio};

use petgraph::visit::EdgeRef;

use crate::resolve::{EdgeKind, Node, Resolution};

/// DOT text of the resolved graph: nodes in start order, edges labelled with requirements.
pub fn to_dot(resolution: &Resolution) -> String {
    let mut out = String::new();
    let quote = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
    writeln!(out, "digraph {} {{", quote(&resolution.device)).unwrap();
    writeln!(out, "  rankdir=LR;\n  node [shape=box, style=rounded, fontname=\"sans-serif\"];\n  edge [fontname=\"sans-serif\", fontsize=10];").unwrap();
    writeln!(
        out,
        "  {} [shape=doubleoctagon, label={}];",
        quote(&format!("device:{}", resolution.device)),
        quote(&format!("device {}", resolution.device))
    )
    .unwrap();
    for c in &resolution.components {
        let features = if c.features.is_empty() {
            String::new()
        } else {
            format!("\\n[{}]", c.features.join(","))
        };
        writeln!(
            out,
            "  {} [label=\"{}\\n{}{}\"];",
            quote(&c.name),
            c.name,
            c.version,
            features
        )
        .unwrap();
    }
    let id = |n: &Node| match n {
        Node::Device(d) => quote(&format!("device:{d}")),
        Node::Component(c) => quote(c),
    };
    let mut edges: Vec<String> = resolution
        .graph
        .edge_references()
        .map(|e| {
            let (from, to) = (&resolution.graph[e.source()], &resolution.graph[e.target()]);
            let w = e.weight();
            let style = match &w.kind {
                EdgeKind::Requires => String::new(),
                EdgeKind::Recommends => ", style=dashed".into(),
                EdgeKind::Feature { feature: f } => format!(", color=blue, taillabel={}", quote(f)),
            };
            format!(
                "  {} -> {} [label={}{}];",
                id(from),
                id(to),
                quote(&w.requirement.to_string()),
                style
            )
        })
        .collect();
    edges.sort();
    for e in edges {
        writeln!(out, "{e}").unwrap();
    }
    for d in &resolution.dropped {
        writeln!(
            out,
            "  {} -> {} [label={}, style=dotted, color=gray];",
            quote(&d.component),
            quote(&format!("dropped: {}", d.requirement)),
            quote("recommends (dropped)")
        )
        .unwrap();
        writeln!(
            out,
            "  {} [shape=plaintext, fontcolor=gray];",
            quote(&format!("dropped: {}", d.requirement))
        )
        .unwrap();
    }
    out.push_str("}\n");
    out
}

/// Why `dot` could not turn DOT into SVG.
#[derive(Debug, thiserror::Error)]
pub enum GraphvizError {
    #[error("cannot run `dot` (Graphviz): {0}")]
    Spawn(std::io::Error),
    #[error("`dot` failed: {0}")]
    Failed(String),
}

/// Renders DOT text to SVG with Graphviz's `dot -Tsvg`.
pub fn to_svg(dot: &str) -> Result<String, GraphvizError> {
    let mut child = Command::new("dot")
        .arg("-Tsvg")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(GraphvizError::Spawn)?;
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(dot.as_bytes())
        .map_err(GraphvizError::Spawn)?;
    let output = child.wait_with_output().map_err(GraphvizError::Spawn)?;
    if !output.status.success() {
        return Err(GraphvizError::Failed(
            String::from_utf8_lossy(&output.stderr).trim().to_string(),
        ));
    }
    String::from_utf8(output.stdout).map_err(|e| GraphvizError::Failed(e.to_string()))
}
