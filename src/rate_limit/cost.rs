/// What one request costs in the token bucket: an estimate of the LLM
/// tokens it will use, computed from the request before it is sent.
///
/// Implemented by [`NoCost`] (every request costs nothing: the token bucket,
/// if any, only follows the upstream's headers) and by any closure
/// `Fn(&Req) -> u32`, such as "prompt length / 4 + `max_tokens`".
pub trait Cost<Req> {
    /// The cost of `request`, in tokens.
    fn cost(&self, request: &Req) -> u32;
}

/// Every request costs nothing in the token bucket.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoCost;

impl<Req> Cost<Req> for NoCost {
    #[inline]
    fn cost(&self, _: &Req) -> u32 {
        0
    }
}

impl<Req, F: Fn(&Req) -> u32> Cost<Req> for F {
    #[inline]
    fn cost(&self, request: &Req) -> u32 {
        self(request)
    }
}
