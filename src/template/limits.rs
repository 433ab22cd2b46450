//! Bounds on a single render, so that no template can hang or flood the service.

/// How large a template may be and how much work and output one render may use.
#[derive(Debug, Clone, Copy)]
pub struct RenderLimits {
    /// minijinja fuel: one unit per executed instruction, and one per 64 bytes of data a
    /// render creates (strings, lists, output), checked before a large allocation is made.
    /// This is what bounds the memory of one render: `"x" * 100000000` runs out of fuel
    /// before allocating anything.
    pub fuel: u64,
    /// Bytes of rendered text. Enforced while writing: the write that would take the reply
    /// past it fails before it is made (see `reply`). Text captured on the way (macros,
    /// `set` and `filter` blocks) counts when printed into the reply.
    pub max_output_bytes: usize,
    /// Items a single `range(…)` may produce.
    pub max_range: usize,
    /// Bytes of template source (the body and each variant).
    pub max_template_bytes: usize,
    /// Localised variants of one shortcut.
    pub max_variants: usize,
    /// Attachments of one shortcut (`--max-attachments`).
    pub max_attachments: usize,
    /// Bytes of an attachment's URL, as written and as rendered
    /// (`--max-attachment-url-bytes`).
    pub max_attachment_url_bytes: usize,
    /// Characters of an attachment's name, as written and as rendered
    /// (`--max-attachment-name-chars`).
    pub max_attachment_name_chars: usize,
    /// The largest `size_bytes` an attachment may declare (`--max-attachment-size-bytes`).
    pub max_attachment_size_bytes: u64,
    /// Wall-clock time one render may take (`--render-timeout`), waiting for a render slot
    /// included. A render that outgrows its first slice of fuel finishes off the async
    /// runtime, and stops at this bound or at the caller's deadline, whichever is first.
    pub render_timeout: std::time::Duration,
}

impl Default for RenderLimits {
    fn default() -> Self {
        Self {
            fuel: 100_000,
            max_output_bytes: 64 * 1024,
            max_range: 10_000,
            max_template_bytes: crate::ids::MAX_BODY_BYTES,
            max_variants: crate::ids::MAX_VARIANTS,
            max_attachments: 10,
            max_attachment_url_bytes: 2048,
            max_attachment_name_chars: 200,
            max_attachment_size_bytes: 1 << 30,
            render_timeout: std::time::Duration::from_millis(250),
        }
    }
}

/// Marks a minijinja error as a limit being hit (as opposed to a template bug).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub(crate) struct LimitHit {
    /// The setting that bounds it, as operators know it.
    pub limit: &'static str,
    pub message: String,
}

/// The settings that bound a render, named as their command-line flags.
pub(crate) const RENDER_FUEL_FLAG: &str = "--render-fuel";
pub(crate) const MAX_OUTPUT_BYTES_FLAG: &str = "--max-output-bytes";
pub(crate) const MAX_RANGE_ITEMS_FLAG: &str = "--max-range-items";

/// Why a render stopped before finishing, other than running out of fuel.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Stopped {
    /// It ran longer than `--render-timeout`.
    #[error("the render took longer than --render-timeout {}", humantime::format_duration(*.0))]
    Timeout(std::time::Duration),
    /// The caller's deadline (`grpc-timeout`) passed.
    #[error("the caller's deadline passed during the render")]
    Deadline,
    /// The caller went away (a cancelled BatchRender).
    #[error("the caller cancelled the render")]
    Cancelled,
}
