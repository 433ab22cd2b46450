//! What both benchmarks share: a deterministic generator of realistic support text, and
//! the summary of a set of timings.

#![allow(dead_code)]

use std::time::Duration;

/// Words of support replies, the most frequent first (picked with a skew, as in real text).
pub const WORDS: &[&str] = &[
    "the",
    "your",
    "to",
    "you",
    "we",
    "and",
    "a",
    "for",
    "is",
    "of",
    "in",
    "it",
    "order",
    "account",
    "please",
    "can",
    "this",
    "on",
    "our",
    "with",
    "team",
    "help",
    "thanks",
    "support",
    "refund",
    "payment",
    "invoice",
    "plan",
    "subscription",
    "shipping",
    "delivery",
    "password",
    "email",
    "link",
    "days",
    "business",
    "sorry",
    "delay",
    "update",
    "check",
    "confirm",
    "receipt",
    "billing",
    "card",
    "charge",
    "renewal",
    "trial",
    "upgrade",
    "downgrade",
    "cancel",
    "cancellation",
    "return",
    "exchange",
    "warranty",
    "replacement",
    "tracking",
    "parcel",
    "carrier",
    "address",
    "customs",
    "invoice",
    "discount",
    "coupon",
    "promotion",
    "feature",
    "request",
    "bug",
    "report",
    "crash",
    "screenshot",
    "browser",
    "mobile",
    "app",
    "login",
    "verification",
    "security",
    "privacy",
    "gdpr",
    "deletion",
    "export",
    "data",
    "integration",
    "api",
    "webhook",
    "token",
    "limit",
    "quota",
    "usage",
    "seats",
    "admin",
    "permissions",
    "role",
    "invite",
    "onboarding",
    "welcome",
    "tutorial",
    "documentation",
    "article",
    "guide",
    "callback",
    "schedule",
    "meeting",
    "demo",
    "sales",
    "quote",
    "contract",
    "legal",
    "compliance",
    "tax",
    "vat",
    "currency",
    "bank",
    "transfer",
    "paypal",
    "stripe",
    "outage",
    "incident",
    "status",
    "maintenance",
    "latency",
    "timeout",
    "escalation",
    "specialist",
    "engineer",
    "manager",
    "supervisor",
    "feedback",
    "survey",
    "rating",
    "review",
    "apology",
    "compensation",
    "credit",
    "voucher",
    "gift",
    "loyalty",
    "points",
    "referral",
    "partner",
    "reseller",
    "wholesale",
    "catalogue",
    "stock",
    "backorder",
    "preorder",
    "size",
    "colour",
    "fit",
    "café",
    "crème",
    "résumé",
    "façade",
    "naïve",
    "über",
    "straße",
    "ñandú",
    "garantía",
    "livraison",
    "remboursement",
    "commande",
];

pub const TAGS: &[&str] = &[
    "billing",
    "shipping",
    "orders",
    "account",
    "security",
    "privacy",
    "product",
    "bug",
    "sales",
    "onboarding",
    "closing",
    "general",
    "escalation",
    "returns",
    "payments",
    "api",
    "mobile",
    "legal",
    "loyalty",
    "stock",
    "vip",
    "b2b",
    "fr",
    "es",
    "de",
];

/// A deterministic random source, so that every run benchmarks the same catalogue.
pub struct Gen(fastrand::Rng);

impl Gen {
    pub fn new(seed: u64) -> Self {
        Self(fastrand::Rng::with_seed(seed))
    }

    pub fn below(&mut self, n: usize) -> usize {
        self.0.usize(..n)
    }

    /// A word, frequent ones more often (roughly Zipf-like).
    pub fn word(&mut self) -> &'static str {
        let skewed = (self.0.f64().powi(3) * WORDS.len() as f64) as usize;
        WORDS[skewed.min(WORDS.len() - 1)]
    }

    /// A word picked uniformly, for bangs and titles (which use the rarer words too).
    pub fn any_word(&mut self) -> &'static str {
        WORDS[self.below(WORDS.len())]
    }

    pub fn sentence(&mut self, words: usize) -> String {
        let mut out = String::new();
        for i in 0..words {
            if i > 0 {
                out.push(' ');
            }
            out.push_str(self.word());
        }
        out.push('.');
        out
    }
}

/// One realistic shortcut: bang, title, tags, body with placeholders and a condition.
pub struct Fixture {
    pub bang: String,
    pub title: String,
    pub tags: Vec<String>,
    pub body: String,
}

pub fn fixture(g: &mut Gen, i: usize) -> Fixture {
    let parts = 1 + g.below(3);
    let mut bang: Vec<String> = (0..parts)
        .map(|_| deunicode::deunicode(g.any_word()).replace(' ', ""))
        .collect();
    bang.push(i.to_string());
    let title_words = 2 + g.below(4);
    let mut title: Vec<String> = (0..title_words).map(|_| g.any_word().to_string()).collect();
    if let Some(first) = title.first_mut() {
        let mut chars = first.chars();
        *first = chars
            .next()
            .map(|c| c.to_uppercase().chain(chars).collect())
            .unwrap_or_default();
    }
    let tags: Vec<String> = (0..1 + g.below(3))
        .map(|_| TAGS[g.below(TAGS.len())].to_string())
        .collect();
    let sentences = 3 + g.below(6);
    let mut body = String::from("Hi <<contact.first_name | fallback(\"there\")>>,\n\n");
    for s in 0..sentences {
        let words = 6 + g.below(12);
        body.push_str(&g.sentence(words));
        body.push(' ');
        if s == 1 {
            body.push_str(
                "{% if session.order_id %}Order <<session.order_id>> is on its way. {% endif %}",
            );
        }
    }
    body.push_str("\n\nBest,\n<<agent.first_name>>");
    Fixture {
        bang: bang.join("-"),
        title: title.join(" "),
        tags,
        body,
    }
}

/// p50, p99 and max of a set of timings.
pub struct Summary {
    pub count: usize,
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
}

pub fn summarize(mut timings: Vec<Duration>) -> Summary {
    timings.sort();
    let at = |q: f64| timings[((timings.len() as f64 * q) as usize).min(timings.len() - 1)];
    Summary {
        count: timings.len(),
        p50: at(0.50),
        p99: at(0.99),
        max: *timings.last().expect("timings"),
    }
}

/// Whether cargo runs this as a benchmark (`cargo bench`) rather than as a smoke test
/// (`cargo test --all-targets`, which runs bench targets once to keep them working).
pub fn full_run() -> bool {
    std::env::args().any(|a| a == "--bench")
}
