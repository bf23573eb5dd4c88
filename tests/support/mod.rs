//! What the test binaries share: the real server as a child process (`server`), a raw
//! HTTP/1.1 client (`client`) and its messages (`message`), S3's XML (`xml`), request helpers
//! (`s3`), dates (`dates`) and test data (`data`).
//!
//! Each binary includes it with `#[path = "../support/mod.rs"] mod support;` and uses a part of
//! it (hence `dead_code` is allowed there). Everything is re-exported here, so a test file
//! starts with `use crate::support::*;`.

pub mod client;
pub mod data;
pub mod dates;
pub mod message;
pub mod s3;
pub mod server;
pub mod xml;

pub use client::*;
pub use data::*;
pub use dates::*;
pub use message::*;
pub use s3::*;
pub use server::*;
pub use xml::*;
