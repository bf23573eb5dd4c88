//! The `Range` header of GetObject: one byte range in any of its three forms.

/// What a Range header asks of an object of a given size.
#[derive(Debug, PartialEq, Eq)]
pub enum RangeRequest {
    /// No usable Range header: the whole object (RFC 7233 says to ignore what we cannot parse,
    /// and S3 serves the whole object for multi-range requests).
    Whole,
    /// Bytes `start..start + length`.
    Partial { start: u64, length: u64 },
    /// A syntactically valid range outside the object: 416.
    Unsatisfiable,
}

pub fn parse_range(header: Option<&str>, size: u64) -> RangeRequest {
    let Some(spec) = header.and_then(|value| value.trim().strip_prefix("bytes=")) else {
        return RangeRequest::Whole;
    };
    if spec.contains(',') {
        return RangeRequest::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeRequest::Whole;
    };
    let number = |text: &str| -> Option<u64> {
        let text = text.trim();
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        text.parse().ok()
    };
    match (first.trim().is_empty(), last.trim().is_empty()) {
        // bytes=-n: the last n bytes.
        (true, false) => match number(last) {
            None => RangeRequest::Whole,
            Some(0) => RangeRequest::Unsatisfiable,
            Some(_) if size == 0 => RangeRequest::Unsatisfiable,
            Some(suffix) => {
                let length = suffix.min(size);
                RangeRequest::Partial { start: size - length, length }
            }
        },
        // bytes=a-: from a to the end.
        (false, true) => match number(first) {
            None => RangeRequest::Whole,
            Some(start) if start >= size => RangeRequest::Unsatisfiable,
            Some(start) => RangeRequest::Partial { start, length: size - start },
        },
        // bytes=a-b.
        (false, false) => match (number(first), number(last)) {
            (Some(start), Some(end)) if start <= end => {
                if start >= size {
                    RangeRequest::Unsatisfiable
                } else {
                    RangeRequest::Partial { start, length: end.min(size - 1) - start + 1 }
                }
            }
            _ => RangeRequest::Whole,
        },
        (true, true) => RangeRequest::Whole,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use RangeRequest::*;

    #[test]
    fn the_three_forms_and_their_edges() {
        let table = [
            (Some("bytes=0-9"), 100, Partial { start: 0, length: 10 }),
            (Some("bytes=90-200"), 100, Partial { start: 90, length: 10 }),
            (Some("bytes=10-"), 100, Partial { start: 10, length: 90 }),
            (Some("bytes=-10"), 100, Partial { start: 90, length: 10 }),
            (Some("bytes=-500"), 100, Partial { start: 0, length: 100 }),
            (Some("bytes=99-99"), 100, Partial { start: 99, length: 1 }),
            (Some("bytes=100-"), 100, Unsatisfiable),
            (Some("bytes=100-200"), 100, Unsatisfiable),
            (Some("bytes=-0"), 100, Unsatisfiable),
            (Some("bytes=0-"), 0, Unsatisfiable),
            (Some("bytes=5-1"), 100, Whole),
            (Some("bytes=a-b"), 100, Whole),
            (Some("bytes=0-1,5-6"), 100, Whole),
            (Some("items=0-1"), 100, Whole),
            (Some("bytes=-"), 100, Whole),
            (None, 100, Whole),
        ];
        for (header, size, expected) in table {
            assert_eq!(parse_range(header, size), expected, "{header:?} of {size}");
        }
    }
}
