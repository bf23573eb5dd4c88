//! The S3 API's XML documents: encoders of the answers (listings, multipart, copy, delete
//! results) and decoders of the request bodies, one function per document. They are written
//! with the generic `xml::XmlWriter` and read with the bounded `xml::tree`.

pub mod delete;
pub mod list;
pub mod multipart;
