//! Pieces shared by the body wrappers that replay a buffered prefix before
//! the rest of a stream (`ReplayBody`, the error-body layer's and the SSE
//! guard's response bodies).

use bytes::{Buf, Bytes};
use http_body::{Frame, SizeHint};

/// A frame whose data is turned into [`Bytes`]; free when it already is
/// `Bytes` (`copy_to_bytes` of the whole buffer only moves it).
#[inline]
pub(crate) fn into_bytes<D: Buf>(frame: Frame<D>) -> Frame<Bytes> {
    frame.map_data(|mut data| data.copy_to_bytes(data.remaining()))
}

/// The size hint of `prefix` followed by a stream whose hint is `rest`.
pub(crate) fn prefixed_size_hint(prefix: Option<&Bytes>, rest: SizeHint) -> SizeHint {
    let prefix = prefix.map_or(0, |prefix| prefix.len() as u64);
    let mut hint = SizeHint::new();
    hint.set_lower(rest.lower().saturating_add(prefix));
    if let Some(upper) = rest.upper() {
        // `upper >= lower`, so the sum is at least the lower bound.
        hint.set_upper(upper.saturating_add(prefix));
    }
    hint
}
