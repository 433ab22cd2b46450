//! Bounds on a single render, so that no template can hang or flood the service.

/// How large a template may be and how much work and output one render may use.
#[derive(Debug, Clone, Copy)]
pub struct RenderLimits {
    /// minijinja fuel: one unit per executed instruction, and one per 64 bytes of data a
    /// render creates (strings, lists, output), checked before a large allocation is made.
    /// This is what bounds the memory of one render: `"x" * 100000000` runs out of fuel
    /// before allocating anything.
    pub fuel: u64,
    /// Bytes of rendered text.
    pub max_output_bytes: usize,
    /// Items a single `range(…)` may produce.
    pub max_range: usize,
    /// Bytes of template source (the body and each variant).
    pub max_template_bytes: usize,
    /// Localised variants of one shortcut.
    pub max_variants: usize,
}

impl Default for RenderLimits {
    fn default() -> Self {
        Self {
            fuel: 100_000,
            max_output_bytes: 64 * 1024,
            max_range: 10_000,
            max_template_bytes: crate::catalog::validate::MAX_BODY_BYTES,
            max_variants: crate::catalog::validate::MAX_VARIANTS,
        }
    }
}

/// Marks a minijinja error as a limit being hit (as opposed to a template bug).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct LimitHit(pub String);

/// Collects rendered bytes and refuses to grow past the output limit.
pub(crate) struct BoundedOutput {
    pub buf: Vec<u8>,
    pub max: usize,
    pub overflowed: bool,
}

impl BoundedOutput {
    /// `expected`: roughly how long the output will be, so that the buffer is allocated
    /// once for a typical reply rather than grown as it is written.
    pub fn new(expected: usize, max: usize) -> Self {
        Self {
            buf: Vec::with_capacity(expected.min(max)),
            max,
            overflowed: false,
        }
    }
}

impl std::io::Write for BoundedOutput {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if self.buf.len() + data.len() > self.max {
            self.overflowed = true;
            return Err(std::io::Error::other("render output limit reached"));
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
