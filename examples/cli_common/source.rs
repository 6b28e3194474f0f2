//! The message of pub and the request of rr: `-m`, `-f`, `-s`, `-l` (pub only) and `-n`. Included by
//! the tools that send one (`#[path]`), so that sub does not compile what it does not use.

use std::io::{self, Read};

use crate::cli_common::{Args, Failure, EXIT_FAILURE};

/// Where the message of pub (and the request of rr) comes from.
#[derive(Debug)]
pub enum Source {
    /// `-m`.
    Message(Vec<u8>),
    /// `-f`.
    File(String),
    /// `-s`.
    StdinFile,
    /// `-l` (pub only).
    StdinLines,
    /// `-n`.
    Null,
}

impl Source {
    /// The option `opt` as a source, if it names one (`-l` only where `lines` allows it).
    pub fn parse(opt: &str, args: &mut Args, lines: bool) -> Result<Option<Source>, Failure> {
        Ok(Some(match opt {
            "-m" | "--message" => Source::Message(args.bytes(opt, "message")?),
            "-f" | "--file" => Source::File(args.text(opt, "file")?),
            "-s" | "--stdin-file" => Source::StdinFile,
            "-l" | "--stdin-line" if lines => Source::StdinLines,
            "-n" | "--null-message" => Source::Null,
            _ => return Ok(None),
        }))
    }

    /// The payload, read before connecting so that a missing file fails before any network
    /// traffic; empty for `-l`, whose lines are read one by one later.
    pub fn payload(&self) -> Result<Vec<u8>, Failure> {
        Ok(match self {
            Source::Message(m) => m.clone(),
            Source::Null | Source::StdinLines => Vec::new(),
            Source::File(path) => std::fs::read(path).map_err(|e| {
                Failure::new(
                    EXIT_FAILURE,
                    format!("Error: Unable to read file '{path}': {e}."),
                )
            })?,
            Source::StdinFile => {
                let mut all = Vec::new();
                io::stdin().lock().read_to_end(&mut all).map_err(|e| {
                    Failure::new(EXIT_FAILURE, format!("Error: Unable to read stdin: {e}."))
                })?;
                all
            }
        })
    }
}
