//! Walks a parsed template to find what it reads and what it prints.
//!
//! The engine uses this to check a template at write time (unknown scopes, unknown
//! filters, includes) and to instrument each `<<…>>` so that a render can tell which
//! placeholders came out empty.

use minijinja::machinery::Span;
use minijinja::machinery::ast::{CallArg, CallType, Expr, Stmt};

/// A variable path such as `contact.plan`, with where it first appears.
#[derive(Debug, Clone)]
pub(crate) struct PathRef {
    pub path: String,
    pub root: String,
    pub span: Span,
}

/// One `<<…>>`: the byte range of its expression and the paths it reads.
#[derive(Debug)]
pub(crate) struct Emit {
    pub start: usize,
    pub end: usize,
    pub paths: Vec<String>,
    /// minijinja prints it without passing its value to the formatter (`loop(…)`,
    /// `super()`, `self.block()`), so the plain body cannot watch it (see [`super::trace`]).
    pub bypasses_formatter: bool,
}

/// A filter call, with its arguments where they are constants (for write-time checks).
#[derive(Debug)]
pub(crate) struct FilterUse {
    pub name: String,
    pub span: Span,
    /// Positional arguments: `Some` for a literal, `None` for anything computed.
    pub args: Vec<Option<minijinja::Value>>,
    /// Keyword arguments that are literals.
    pub kwargs: Vec<(String, minijinja::Value)>,
    /// The value filtered, when it is a literal (`<<"x" | fallback("y")>>`).
    pub input: Option<minijinja::Value>,
}

/// A construct that is not allowed in a shortcut (includes, imports, inheritance).
#[derive(Debug)]
pub(crate) struct Forbidden {
    pub what: &'static str,
    pub span: Span,
}

/// Everything the checks and the instrumentation need to know about a template.
#[derive(Debug, Default)]
pub(crate) struct Analysis {
    /// Every path read anywhere, in order of appearance (with repeats).
    pub paths: Vec<PathRef>,
    pub emits: Vec<Emit>,
    pub filters: Vec<FilterUse>,
    pub tests: Vec<(String, Span)>,
    pub forbidden: Vec<Forbidden>,
    /// `{% include "name" %}` statements: the snippet's name and where.
    pub includes: Vec<(String, Span)>,
}

impl Analysis {
    pub fn of(root: &Stmt<'_>) -> Analysis {
        let mut analysis = Analysis::default();
        analysis.stmt(root);
        analysis
    }

    fn stmts(&mut self, body: &[Stmt<'_>]) {
        for stmt in body {
            self.stmt(stmt);
        }
    }

    fn stmt(&mut self, stmt: &Stmt<'_>) {
        match stmt {
            Stmt::Template(t) => self.stmts(&t.children),
            Stmt::EmitExpr(e) => {
                let first = self.paths.len();
                self.expr(&e.expr);
                // The statement's span is the whole expression between the delimiters; the
                // expression's own span starts at its outermost operator (e.g. a filter name).
                let span = e.span();
                let mut paths: Vec<String> = Vec::new();
                for path in &self.paths[first..] {
                    if !paths.contains(&path.path) {
                        paths.push(path.path.clone());
                    }
                }
                self.emits.push(Emit {
                    start: span.start_offset as usize,
                    end: span.end_offset as usize,
                    paths,
                    bypasses_formatter: bypasses_formatter(&e.expr),
                });
            }
            Stmt::EmitRaw(_) | Stmt::Continue(_) | Stmt::Break(_) => {}
            Stmt::ForLoop(f) => {
                self.expr(&f.iter);
                if let Some(filter) = &f.filter_expr {
                    self.expr(filter);
                }
                self.stmts(&f.body);
                self.stmts(&f.else_body);
            }
            Stmt::IfCond(c) => {
                self.expr(&c.expr);
                self.stmts(&c.true_body);
                self.stmts(&c.false_body);
            }
            Stmt::WithBlock(w) => {
                for (_, value) in &w.assignments {
                    self.expr(value);
                }
                self.stmts(&w.body);
            }
            Stmt::Set(s) => self.expr(&s.expr),
            Stmt::SetBlock(s) => {
                if let Some(filter) = &s.filter {
                    self.expr(filter);
                }
                self.stmts(&s.body);
            }
            Stmt::AutoEscape(a) => {
                self.expr(&a.enabled);
                self.stmts(&a.body);
            }
            Stmt::FilterBlock(f) => {
                self.expr(&f.filter);
                self.stmts(&f.body);
            }
            Stmt::Block(b) => self.stmts(&b.body),
            Stmt::Extends(e) => self.forbid("`extends`", e.span()),
            Stmt::Include(i) => match i.name.as_const() {
                Some(name) if !i.ignore_missing && name.as_str().is_some() => self
                    .includes
                    .push((name.as_str().unwrap_or_default().to_string(), i.span())),
                _ => self.forbid(
                    "`include` of anything but a snippet's name in quotes",
                    i.span(),
                ),
            },
            Stmt::Import(i) => self.forbid("`import`", i.span()),
            Stmt::FromImport(i) => self.forbid("`from … import`", i.span()),
            Stmt::Macro(m) => {
                for default in &m.defaults {
                    self.expr(default);
                }
                self.stmts(&m.body);
            }
            Stmt::CallBlock(c) => {
                self.call_args(&c.call.args);
                self.stmts(&c.macro_decl.body);
            }
            Stmt::Do(d) => {
                self.expr(&d.call.expr);
                self.call_args(&d.call.args);
            }
        }
    }

    fn forbid(&mut self, what: &'static str, span: Span) {
        self.forbidden.push(Forbidden { what, span });
    }

    fn call_args(&mut self, args: &[CallArg<'_>]) {
        for arg in args {
            match arg {
                CallArg::Pos(e)
                | CallArg::Kwarg(_, e)
                | CallArg::PosSplat(e)
                | CallArg::KwargSplat(e) => self.expr(e),
            }
        }
    }

    fn expr(&mut self, expr: &Expr<'_>) {
        if let Some(segments) = path_of(expr) {
            self.paths.push(PathRef {
                root: segments[0].to_string(),
                path: segments.join("."),
                span: expr.span(),
            });
            return;
        }
        match expr {
            Expr::Var(_) | Expr::Const(_) => {}
            Expr::Slice(s) => {
                self.expr(&s.expr);
                for part in [&s.start, &s.stop, &s.step].into_iter().flatten() {
                    self.expr(part);
                }
            }
            Expr::UnaryOp(u) => self.expr(&u.expr),
            Expr::BinOp(b) => {
                self.expr(&b.left);
                self.expr(&b.right);
            }
            Expr::Compare(c) => {
                self.expr(&c.expr);
                for op in &c.ops {
                    self.expr(&op.expr);
                }
            }
            Expr::IfExpr(i) => {
                self.expr(&i.test_expr);
                self.expr(&i.true_expr);
                if let Some(f) = &i.false_expr {
                    self.expr(f);
                }
            }
            Expr::Filter(f) => {
                if let Some(inner) = &f.expr {
                    self.expr(inner);
                }
                let mut args = Vec::new();
                let mut kwargs = Vec::new();
                for arg in &f.args {
                    match arg {
                        CallArg::Pos(e) => args.push(e.as_const()),
                        CallArg::Kwarg(name, e) => {
                            if let Some(value) = e.as_const() {
                                kwargs.push((name.to_string(), value));
                            }
                        }
                        _ => {}
                    }
                }
                self.filters.push(FilterUse {
                    name: f.name.to_string(),
                    span: f.span(),
                    args,
                    kwargs,
                    input: f.expr.as_ref().and_then(|e| e.as_const()),
                });
                self.call_args(&f.args);
            }
            Expr::Test(t) => {
                self.expr(&t.expr);
                self.tests.push((t.name.to_string(), t.span()));
                self.call_args(&t.args);
            }
            Expr::GetAttr(g) => self.expr(&g.expr),
            Expr::GetItem(g) => {
                self.expr(&g.expr);
                self.expr(&g.subscript_expr);
            }
            Expr::Call(c) => {
                // `x.method()` reads `x`, not a field called `method`.
                match &c.expr {
                    Expr::GetAttr(g) => self.expr(&g.expr),
                    Expr::Var(_) => {}
                    other => self.expr(other),
                }
                self.call_args(&c.args);
            }
            Expr::List(l) => l.items.iter().for_each(|e| self.expr(e)),
            Expr::Tuple(t) => t.items.iter().for_each(|e| self.expr(e)),
            Expr::Map(m) => {
                m.keys.iter().for_each(|e| self.expr(e));
                m.values.iter().for_each(|e| self.expr(e));
            }
        }
    }
}

/// Whether minijinja compiles `<<expr>>` to a direct write instead of an `Emit` of the
/// value (its special cases for recursive loops, `super()` and blocks). Errs on the safe
/// side: any call of `loop` or `super`, whatever its arguments.
fn bypasses_formatter(expr: &Expr<'_>) -> bool {
    let Expr::Call(call) = expr else {
        return false;
    };
    matches!(
        call.identify_call(),
        CallType::Function("loop" | "super") | CallType::Block(_)
    )
}

/// `contact.company.name` or `contact.data["plan"]` as its segments; `None` for anything
/// that is not a plain lookup chain.
fn path_of(expr: &Expr<'_>) -> Option<Vec<String>> {
    match expr {
        Expr::Var(v) => Some(vec![v.id.to_string()]),
        Expr::GetAttr(g) => {
            let mut segments = path_of(&g.expr)?;
            segments.push(g.name.to_string());
            Some(segments)
        }
        Expr::GetItem(g) => {
            let mut segments = path_of(&g.expr)?;
            let key = g.subscript_expr.as_const()?;
            segments.push(key.to_string());
            Some(segments)
        }
        _ => None,
    }
}
