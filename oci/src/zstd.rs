//! zstd-compressed layers (`application/vnd.oci.image.layer.v1.tar+zstd`) as one tar
//! stream: every frame in turn (zstd:chunked writes several), skippable frames (where
//! zstd:chunked keeps its metadata) skipped. Pure Rust (ruzstd), as the update agent's deltas.

use std::cell::RefCell;
use std::io::{BufRead, Read};
use std::rc::Rc;

use ruzstd::decoding::StreamingDecoder;
use ruzstd::decoding::errors::{FrameDecoderError, ReadFrameHeaderError};

/// A zstd stream of one or more frames, read as its uncompressed bytes.
pub(crate) struct Zstd<R: Read> {
    source: Rc<RefCell<R>>,
    frame: Option<StreamingDecoder<Shared<R>, ruzstd::decoding::FrameDecoder>>,
}

/// The source, shared between the frames' decoders in turn.
struct Shared<R>(Rc<RefCell<R>>);

impl<R: Read> Read for Shared<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().read(buf)
    }
}

impl<R: BufRead> Zstd<R> {
    pub(crate) fn new(source: R) -> Zstd<R> {
        Zstd {
            source: Rc::new(RefCell::new(source)),
            frame: None,
        }
    }

    /// The decoder of the next frame with data; `None` at the end of the stream.
    fn next_frame(
        &mut self,
    ) -> std::io::Result<Option<StreamingDecoder<Shared<R>, ruzstd::decoding::FrameDecoder>>> {
        loop {
            if self.source.borrow_mut().fill_buf()?.is_empty() {
                return Ok(None);
            }
            match StreamingDecoder::new(Shared(self.source.clone())) {
                Ok(decoder) => return Ok(Some(decoder)),
                Err(FrameDecoderError::ReadFrameHeaderError(ReadFrameHeaderError::SkipFrame {
                    length,
                    ..
                })) => {
                    let mut source = self.source.borrow_mut();
                    let skipped = std::io::copy(
                        &mut (&mut *source).take(u64::from(length)),
                        &mut std::io::sink(),
                    )?;
                    if skipped != u64::from(length) {
                        return Err(invalid("a skippable frame ends early"));
                    }
                }
                Err(e) => return Err(invalid(&e.to_string())),
            }
        }
    }
}

fn invalid(message: &str) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("not a valid zstd stream: {message}"),
    )
}

impl<R: BufRead> Read for Zstd<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if self.frame.is_none() {
                match self.next_frame()? {
                    Some(frame) => self.frame = Some(frame),
                    None => return Ok(0),
                }
            }
            let n = self.frame.as_mut().expect("a frame").read(buf)?;
            if n > 0 {
                return Ok(n);
            }
            self.frame = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Frames made by Debian's zstd tool (`zstd -c`), concatenated with a skippable frame
    /// between them, as zstd:chunked lays a layer out.
    #[test]
    fn every_frame_is_read_and_skippable_frames_are_skipped() {
        let frame = |text: &str| {
            let mut child = std::process::Command::new("zstd")
                .args(["-q", "-c"])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("zstd runs (Debian's zstd package)");
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(text.as_bytes())
                .unwrap();
            child.wait_with_output().unwrap().stdout
        };
        let mut stream = frame("first frame, ");
        stream.extend_from_slice(&0x184D2A50u32.to_le_bytes());
        stream.extend_from_slice(&4u32.to_le_bytes());
        stream.extend_from_slice(b"meta");
        stream.extend(frame("second frame"));
        let mut text = String::new();
        Zstd::new(stream.as_slice())
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "first frame, second frame");

        let e = Zstd::new(&b"not zstd at all"[..])
            .read_to_string(&mut text)
            .unwrap_err();
        assert!(e.to_string().contains("not a valid zstd stream"), "{e}");
    }
}
