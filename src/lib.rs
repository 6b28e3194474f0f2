//! pahoish: crate docs are written in full once the client lands.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod error;
pub mod packet;
mod topic;

#[cfg(feature = "testing")]
pub mod testing;

pub use error::*;
pub use packet::{Protocol, QoS};
pub use topic::topic_matches_sub;
