//! A client's request body as the upstream client's `BodySource`: read from the connection
//! as the upstream takes it, never held whole (PutObject, UploadPart). Not replayable, so a
//! request that started sending it is not retried. With staging, every piece is also written
//! into the object's staged cache pages on its way through (`cache::staged`).

use std::io;

use crate::cache::staged::StagedObject;
use crate::http::body::BodyError;
use crate::s3::S3Request;
use crate::upstream::BodySource;

pub(super) struct ClientBody<'r, 'a> {
    request: &'r mut S3Request<'a>,
    length: u64,
    /// Why the client's body failed (its own S3 error, not the upstream's).
    pub(super) failure: Option<BodyError>,
    /// The cache pages this body fills (PutObject), if any.
    pub(super) staged: Option<StagedObject>,
}

impl<'r, 'a> ClientBody<'r, 'a> {
    pub(super) fn new(request: &'r mut S3Request<'a>, length: u64, staged: Option<StagedObject>) -> Self {
        ClientBody { request, length, failure: None, staged }
    }
}

impl BodySource for ClientBody<'_, '_> {
    fn length(&self) -> u64 {
        self.length
    }

    async fn fill(&mut self, mut buffer: Vec<u8>, max_bytes: usize) -> (io::Result<usize>, Vec<u8>) {
        let request = &mut *self.request;
        let before = buffer.len();
        match request.body.read_into(request.connection, &mut buffer, max_bytes).await {
            Ok(read) => {
                if let (Some(staged), true) = (self.staged.as_mut(), read > 0) {
                    buffer = staged.append(buffer, before..before + read).await;
                }
                (Ok(read), buffer)
            }
            Err(error) => {
                let message = error.to_string();
                self.failure = Some(error);
                (Err(io::Error::other(message)), buffer)
            }
        }
    }
}
