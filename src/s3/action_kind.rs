//! The name of each S3 operation as a small `Copy` value: a dense index for per-core counter
//! arrays (metrics) and the label Prometheus and the access log show. `Action` carries the
//! resource; `ActionKind` is what is counted.

use super::router::Action;

macro_rules! action_kinds {
    ($($kind:ident,)*) => {
        /// One S3 operation, without its resource. `Unknown`: a request refused before it
        /// could be routed (a malformed head, an invalid path).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub(crate) enum ActionKind { $($kind,)* }

        impl ActionKind {
            /// Every kind, in index order.
            pub(crate) const ALL: &'static [ActionKind] = &[$(ActionKind::$kind,)*];
            pub(crate) const COUNT: usize = Self::ALL.len();

            /// The operation's name in AWS's API reference (the metrics label).
            pub(crate) fn as_str(self) -> &'static str {
                match self { $(ActionKind::$kind => stringify!($kind),)* }
            }

            /// A dense index in `0..COUNT`.
            pub(crate) fn index(self) -> usize {
                self as usize
            }
        }
    };
}

action_kinds! {
    Unknown,
    ListBuckets,
    CreateBucket,
    HeadBucket,
    DeleteBucket,
    GetBucketLocation,
    GetBucketVersioning,
    ListObjects,
    ListObjectsV2,
    ListMultipartUploads,
    DeleteObjects,
    GetBucketTagging,
    PutBucketTagging,
    DeleteBucketTagging,
    PutObject,
    CopyObject,
    GetObject,
    HeadObject,
    DeleteObject,
    GetObjectTagging,
    PutObjectTagging,
    DeleteObjectTagging,
    CreateMultipartUpload,
    UploadPart,
    UploadPartCopy,
    CompleteMultipartUpload,
    AbortMultipartUpload,
    ListParts,
    GetBucketAcl,
    GetObjectAcl,
    PutBucketAcl,
    PutObjectAcl,
    Unsupported,
}

impl Action {
    pub(crate) fn kind(&self) -> ActionKind {
        match self {
            Action::ListBuckets => ActionKind::ListBuckets,
            Action::CreateBucket { .. } => ActionKind::CreateBucket,
            Action::HeadBucket { .. } => ActionKind::HeadBucket,
            Action::DeleteBucket { .. } => ActionKind::DeleteBucket,
            Action::GetBucketLocation { .. } => ActionKind::GetBucketLocation,
            Action::GetBucketVersioning { .. } => ActionKind::GetBucketVersioning,
            Action::ListObjects { .. } => ActionKind::ListObjects,
            Action::ListObjectsV2 { .. } => ActionKind::ListObjectsV2,
            Action::ListMultipartUploads { .. } => ActionKind::ListMultipartUploads,
            Action::DeleteObjects { .. } => ActionKind::DeleteObjects,
            Action::GetBucketTagging { .. } => ActionKind::GetBucketTagging,
            Action::PutBucketTagging { .. } => ActionKind::PutBucketTagging,
            Action::DeleteBucketTagging { .. } => ActionKind::DeleteBucketTagging,
            Action::PutObject { .. } => ActionKind::PutObject,
            Action::CopyObject { .. } => ActionKind::CopyObject,
            Action::GetObject { .. } => ActionKind::GetObject,
            Action::HeadObject { .. } => ActionKind::HeadObject,
            Action::DeleteObject { .. } => ActionKind::DeleteObject,
            Action::GetObjectTagging { .. } => ActionKind::GetObjectTagging,
            Action::PutObjectTagging { .. } => ActionKind::PutObjectTagging,
            Action::DeleteObjectTagging { .. } => ActionKind::DeleteObjectTagging,
            Action::CreateMultipartUpload { .. } => ActionKind::CreateMultipartUpload,
            Action::UploadPart { .. } => ActionKind::UploadPart,
            Action::UploadPartCopy { .. } => ActionKind::UploadPartCopy,
            Action::CompleteMultipartUpload { .. } => ActionKind::CompleteMultipartUpload,
            Action::AbortMultipartUpload { .. } => ActionKind::AbortMultipartUpload,
            Action::ListParts { .. } => ActionKind::ListParts,
            Action::GetAcl { key: None, .. } => ActionKind::GetBucketAcl,
            Action::GetAcl { key: Some(_), .. } => ActionKind::GetObjectAcl,
            Action::PutAcl { key: None, .. } => ActionKind::PutBucketAcl,
            Action::PutAcl { key: Some(_), .. } => ActionKind::PutObjectAcl,
            Action::Unsupported { .. } => ActionKind::Unsupported,
        }
    }

    /// The bucket and key the action names (for the access log).
    pub(crate) fn names(&self) -> (Option<&str>, Option<&str>) {
        match self {
            Action::ListBuckets | Action::Unsupported { .. } => (None, None),
            Action::CreateBucket { bucket }
            | Action::HeadBucket { bucket }
            | Action::DeleteBucket { bucket }
            | Action::GetBucketLocation { bucket }
            | Action::GetBucketVersioning { bucket }
            | Action::ListObjects { bucket }
            | Action::ListObjectsV2 { bucket }
            | Action::ListMultipartUploads { bucket }
            | Action::DeleteObjects { bucket }
            | Action::GetBucketTagging { bucket }
            | Action::PutBucketTagging { bucket }
            | Action::DeleteBucketTagging { bucket } => (Some(bucket), None),
            Action::PutObject { bucket, key }
            | Action::CopyObject { bucket, key }
            | Action::GetObject { bucket, key }
            | Action::HeadObject { bucket, key }
            | Action::DeleteObject { bucket, key }
            | Action::GetObjectTagging { bucket, key }
            | Action::PutObjectTagging { bucket, key }
            | Action::DeleteObjectTagging { bucket, key }
            | Action::CreateMultipartUpload { bucket, key }
            | Action::UploadPart { bucket, key }
            | Action::UploadPartCopy { bucket, key }
            | Action::CompleteMultipartUpload { bucket, key }
            | Action::AbortMultipartUpload { bucket, key }
            | Action::ListParts { bucket, key } => (Some(bucket), Some(key)),
            Action::GetAcl { bucket, key } | Action::PutAcl { bucket, key } => (Some(bucket), key.as_deref()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indices_are_dense_and_names_are_the_variants() {
        for (index, kind) in ActionKind::ALL.iter().enumerate() {
            assert_eq!(kind.index(), index);
            assert_eq!(kind.as_str(), format!("{kind:?}"));
        }
        let action = Action::GetAcl { bucket: "b".into(), key: Some("k".into()) };
        assert_eq!(action.kind(), ActionKind::GetObjectAcl);
        assert_eq!(action.names(), (Some("b"), Some("k")));
        assert_eq!(Action::ListBuckets.names(), (None, None));
    }
}
