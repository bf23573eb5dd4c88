//! HTTP/1.1 on top of httparse: request heads, streaming bodies (length, chunked,
//! aws-chunked), the connection's buffered I/O with deadlines, and response writing.

pub(crate) mod body;
pub mod chunked;
pub mod connection;
pub mod request;
pub(crate) mod response;
