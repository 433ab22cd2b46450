//! The configured minijinja environment: syntax, filters, limits; compile and render.

use minijinja::machinery::{self, Span};
use minijinja::syntax::SyntaxConfig;
use minijinja::value::Value;
use minijinja::{AutoEscape, Environment, ErrorKind, UndefinedBehavior};

use super::analysis::{Analysis, Emit};
use super::budget::{self, Control};
use super::compiled::{Body, CompiledTemplate};
use super::filters::{
    BUILTIN_FILTERS, GLOBAL_FUNCTIONS, KNOWN_TESTS, OWN_FILTERS, bounded_range, check_arguments,
};
use super::formatting;
use super::include::{self, NoSnippets, Snippets};
use super::limits::{LimitHit, MAX_OUTPUT_BYTES_FLAG, RENDER_FUEL_FLAG, RenderLimits, Stopped};
use super::reply;
use super::trace::{self, EMIT_FILTER, NeedsTrace, RenderTrace, TRACED_BODY};
use super::{RenderError, SCOPES, lint};

/// Names a template may use without declaring them, besides the scopes and
/// [`GLOBAL_FUNCTIONS`].
const GLOBALS: &[&str] = &["loop", "caller", "varargs", "kwargs"];

pub use crate::error::TemplateDiagnostic;

/// The outcome of checking a template without keeping it.
#[derive(Debug, Default)]
pub struct Validation {
    pub errors: Vec<TemplateDiagnostic>,
    pub placeholders: Vec<String>,
    /// Where each of `placeholders` is first read (1-based line and column).
    pub positions: Vec<(u32, u32)>,
    /// What will probably not work as the author meant (the template is still valid).
    pub warnings: Vec<TemplateWarning>,
    /// The snippets the template includes, directly or not (lower-cased names).
    pub includes: Vec<String>,
}

/// A write-time warning: the template is valid but probably does not do what its author
/// meant. `field` names the text it is about (`body`, `variants["fr"]`, `inputs[0]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateWarning {
    pub field: String,
    /// 1-based; 0 when the warning is about no position.
    pub line: u32,
    pub column: u32,
    pub message: String,
    /// What the author probably meant, empty when there is no guess.
    pub suggestion: String,
}

impl Validation {
    /// The placeholders grouped by scope, scopes in [`SCOPES`] order, paths in order of
    /// first appearance.
    pub fn by_scope(&self) -> Vec<(&'static str, Vec<String>)> {
        SCOPES
            .iter()
            .map(|scope| {
                let paths = self
                    .placeholders
                    .iter()
                    .filter(|p| p.split('.').next() == Some(scope))
                    .cloned()
                    .collect::<Vec<_>>();
                (*scope, paths)
            })
            .filter(|(_, paths)| !paths.is_empty())
            .collect()
    }
}

/// A rendered reply and what it could not fill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub text: String,
    /// Placeholders printed empty, each once, in order of first appearance.
    pub missing: Vec<String>,
    /// Placeholders that printed their `fallback(…)` instead of a value.
    pub defaulted: Vec<String>,
    /// Why formatting filters gave up on a value (those placeholders are in `missing`).
    pub filter_failures: Vec<String>,
}

/// Fuel of a render's first attempt, made inline on the async runtime: enough for any
/// ordinary reply (the starter library's largest render takes ~300), small enough that the
/// attempt cannot hold a runtime thread for long. A render that runs out of it is run again
/// with the full fuel in a render slot, off the runtime (see `crate::render`).
pub const QUICK_FUEL: u64 = 10_000;

/// Compiles and renders shortcut templates.
pub struct Engine {
    /// The environment with the full fuel.
    base: Environment<'static>,
    /// The same with [`QUICK_FUEL`].
    quick: Environment<'static>,
    syntax: SyntaxConfig,
    limits: RenderLimits,
}

impl Engine {
    pub fn new(limits: RenderLimits) -> Self {
        let syntax = SyntaxConfig::builder()
            .variable_delimiters("<<", ">>")
            .build()
            .expect("the `<<`/`>>` delimiters are a valid syntax");
        let mut env = Environment::new();
        env.set_syntax(syntax.clone());
        // Replies are chat text, not HTML: nothing is escaped.
        env.set_auto_escape_callback(|_| AutoEscape::None);
        // `contact.company.name` on a contact without a company is missing, not an error.
        env.set_undefined_behavior(UndefinedBehavior::Chainable);
        env.set_fuel(Some(limits.fuel));
        env.set_recursion_limit(64);
        env.set_debug(false);
        env.remove_global("debug");
        env.add_function("range", bounded_range(limits.max_range));
        env.add_global("now", Value::from_object(super::filters::Now));
        env.add_filter("fallback", trace::fallback);
        env.add_filter(EMIT_FILTER, trace::emit);
        env.add_filter(super::url::URL_VALUE_FILTER, super::url::url_value);
        let max_output_bytes = limits.max_output_bytes;
        env.set_formatter(move |out, state, value| {
            trace::format(out, state, value, max_output_bytes)
        });
        budget::register(&mut env);
        budget::register_filters(&mut env);
        env.add_filter("date", formatting::date);
        env.add_filter("number", formatting::number);
        env.add_filter("currency", formatting::currency);
        env.add_filter("first_name", formatting::first_name);
        env.add_filter("last_name", formatting::last_name);
        env.add_filter("truncate", formatting::truncate);
        env.add_test("present", formatting::is_present);
        env.add_test("missing", formatting::is_missing_test);
        let mut quick = env.clone();
        quick.set_fuel(Some(limits.fuel.min(QUICK_FUEL)));
        Self {
            base: env,
            quick,
            syntax,
            limits,
        }
    }

    pub fn limits(&self) -> RenderLimits {
        self.limits
    }

    /// Checks a template and compiles it, or returns every problem found. Includes are
    /// refused (see [`Engine::compile_with`]).
    pub fn compile(&self, source: &str) -> Result<CompiledTemplate, Vec<TemplateDiagnostic>> {
        self.compile_with(source, None, &NoSnippets).map(|(c, _)| c)
    }

    /// Checks and compiles the body of `own` (a bang; `None` for an inline body), its
    /// includes replaced by the snippets' bodies. Returns the snippets it uses.
    pub fn compile_with(
        &self,
        source: &str,
        own: Option<&str>,
        snippets: &dyn Snippets,
    ) -> Result<(CompiledTemplate, Vec<String>), Vec<TemplateDiagnostic>> {
        let (compiled, validation) = self.check(source, own, snippets);
        match compiled {
            Some(compiled) if validation.errors.is_empty() => Ok((compiled, validation.includes)),
            _ => Err(validation.errors),
        }
    }

    /// Checks and compiles a URL template (an attachment's `url`): a template like a body,
    /// whose printed values are percent-encoded when [`super::url::finish`] turns the
    /// render into the URL (see [`super::url`]). Includes are refused.
    pub fn compile_url(&self, source: &str) -> Result<CompiledTemplate, Vec<TemplateDiagnostic>> {
        if let Some(offset) = super::url::marker_in(source) {
            let (line, column) = line_col(source, offset);
            return Err(vec![TemplateDiagnostic {
                line,
                column,
                message: "U+E000 and U+E001 are reserved in URLs".into(),
            }]);
        }
        let (compiled, validation) = self.check(source, None, &NoSnippets);
        if compiled.is_none() || !validation.errors.is_empty() {
            return Err(validation.errors);
        }
        let internal = |message: String| {
            vec![TemplateDiagnostic {
                line: 1,
                column: 1,
                message,
            }]
        };
        let ast = parse_body(source, &self.syntax).map_err(|e| internal(describe(&e)))?;
        let spans: Vec<(usize, usize)> = {
            let mut emits: Vec<_> = Analysis::of(&ast).emits;
            emits.sort_by_key(|e| e.start);
            emits.iter().map(|e| (e.start, e.end)).collect()
        };
        let wrapped = super::url::wrap_values(source, &spans);
        // The wrapped source is instrumented like a body's (see `check`); its own filter
        // is not one an author may name, so it skips the author's checks.
        let ast = parse_body(&wrapped, &self.syntax).map_err(|e| internal(describe(&e)))?;
        let analysis = Analysis::of(&ast);
        let emits = analysis.emits.iter();
        let plain = instrument(&wrapped, emits.clone().filter(|e| e.bypasses_formatter));
        let traced = instrument(&wrapped, emits);
        machinery::parse(&traced, TRACED_BODY, self.syntax.clone())
            .map(drop)
            .and_then(|()| CompiledTemplate::new(&self.syntax, plain, traced))
            .map(|c| c.with_placeholders(validation.placeholders))
            .map_err(|e| internal(describe(&e)))
    }

    /// Checks a template: its errors and the placeholders it reads.
    pub fn validate(&self, source: &str) -> Validation {
        self.check(source, None, &NoSnippets).1
    }

    /// [`Engine::validate`] with the workspace's snippets available to `include`.
    pub fn validate_with(
        &self,
        source: &str,
        own: Option<&str>,
        snippets: &dyn Snippets,
    ) -> Validation {
        self.check(source, own, snippets).1
    }

    fn check(
        &self,
        source: &str,
        own: Option<&str>,
        snippets: &dyn Snippets,
    ) -> (Option<CompiledTemplate>, Validation) {
        let mut validation = Validation::default();
        // After a syntax error, the broken construct is stepped over and the rest checked,
        // so that one answer lists every independent error; nothing is compiled then.
        let repaired;
        let (ast, text) = match parse_body(source, &self.syntax) {
            Ok(ast) => (ast, source),
            Err(err) => {
                validation.errors.push(diagnostic_from_error(source, &err));
                let first = err.range().unwrap_or(source.len()..source.len());
                let (later, text) =
                    lint::recover(source, first, |t| parse_body(t, &self.syntax).map(drop));
                validation
                    .errors
                    .extend(later.iter().map(|e| diagnostic_from_error(source, e)));
                lint::explain_braces(source, &mut validation.errors);
                let Some(text) = text else {
                    return (None, validation);
                };
                repaired = text;
                match parse_body(&repaired, &self.syntax) {
                    Ok(ast) => (ast, repaired.as_str()),
                    Err(_) => return (None, validation),
                }
            }
        };
        let analysis = Analysis::of(&ast);
        let warnings = &mut validation.warnings;
        warnings.extend(lint::foreign_braces(source, |offset| {
            line_col(source, offset)
        }));
        for filter in &analysis.filters {
            let position = line_col(source, filter.span.start_offset as usize);
            warnings.extend(lint::fallback_on_literal(filter, position));
        }
        let errors = &mut validation.errors;
        for forbidden in &analysis.forbidden {
            errors.push(at(
                source,
                forbidden.span,
                format!("{} is not available in shortcuts", forbidden.what),
            ));
        }
        for filter in &analysis.filters {
            let name = &filter.name;
            let known = BUILTIN_FILTERS.iter().chain(OWN_FILTERS);
            if !known.clone().any(|k| k == name) {
                let hint = did_you_mean(name, known.copied());
                errors.push(at(
                    source,
                    filter.span,
                    format!("unknown filter `{name}`{hint}"),
                ));
            } else if let Err(message) = check_arguments(filter) {
                errors.push(at(source, filter.span, message));
            }
        }
        for (name, span) in &analysis.includes {
            // Including itself is a cycle, which the expansion below reports as such.
            if own.is_some_and(|own| own.eq_ignore_ascii_case(name)) {
                continue;
            }
            if let Err(message) = snippets.body(name) {
                errors.push(at(source, *span, message));
            }
        }
        for (name, span) in &analysis.tests {
            if !KNOWN_TESTS.contains(&name.as_str()) {
                let hint = did_you_mean(name, KNOWN_TESTS.iter().copied());
                errors.push(at(source, *span, format!("unknown test `{name}`{hint}")));
            }
        }

        let emits = analysis.emits.iter();
        let plain = instrument(text, emits.clone().filter(|e| e.bypasses_formatter));
        let traced = instrument(text, emits);
        // The traced body is compiled when a render first needs it; should the
        // instrumentation break a template, that is reported now, when it is written.
        let compiled = machinery::parse(&traced, TRACED_BODY, self.syntax.clone())
            .map(drop)
            .and_then(|()| CompiledTemplate::new(&self.syntax, plain, traced));
        let compiled = match compiled {
            Ok(compiled) => compiled,
            Err(err) => {
                errors.push(diagnostic_from_error(source, &err));
                return (None, validation);
            }
        };
        let undeclared = {
            let mut env = Environment::new();
            env.set_syntax(self.syntax.clone());
            env.template_from_str(compiled.plain_source())
                .map(|t| t.undeclared_variables(false))
                .unwrap_or_default()
        };
        let mut reported_roots: Vec<&str> = Vec::new();
        for path in &analysis.paths {
            let root = path.root.as_str();
            if !undeclared.contains(root)
                || GLOBALS.contains(&root)
                || GLOBAL_FUNCTIONS.contains(&root)
            {
                continue;
            }
            if SCOPES.contains(&root) {
                if !validation.placeholders.contains(&path.path) {
                    validation.placeholders.push(path.path.clone());
                    validation
                        .positions
                        .push(line_col(source, path.span.start_offset as usize));
                }
            } else if !reported_roots.contains(&root) {
                reported_roots.push(root);
                let hint = did_you_mean(root, SCOPES.iter().copied());
                errors.push(at(
                    source,
                    path.span,
                    format!(
                        "unknown scope `{root}` in `{}`{hint}; placeholders start with {}",
                        path.path,
                        SCOPES.join(", ")
                    ),
                ));
            }
        }
        errors.sort_by_key(|e| (e.line, e.column));
        validation.warnings.sort_by_key(|w| (w.line, w.column));
        let Some((_, first_include)) = analysis.includes.first() else {
            let compiled = compiled.with_placeholders(validation.placeholders.clone());
            return (Some(compiled), validation);
        };
        if !validation.errors.is_empty() {
            return (None, validation);
        }
        // The includes are replaced by the snippets' bodies and the whole compiled as one
        // program; its problems are reported at the first include.
        let max_bytes = self.limits.max_template_bytes * include::EXPANSION_FACTOR;
        let expanded = match include::expand(own, text, snippets, max_bytes) {
            Ok(expanded) => expanded,
            Err(message) => {
                validation.errors.push(at(source, *first_include, message));
                return (None, validation);
            }
        };
        let (compiled, inner) = self.check(&expanded.text, None, &NoSnippets);
        for problem in inner.errors {
            validation.errors.push(at(
                source,
                *first_include,
                format!("in an included snippet: {}", problem.message),
            ));
        }
        validation.includes = expanded.includes;
        let compiled = compiled.map(|c| c.with_placeholders(validation.placeholders.clone()));
        (compiled, validation)
    }

    /// Checks an expression in the template language (an audience filter): the syntax of
    /// the expression alone, then every check a template gets (filters, tests, scopes,
    /// placeholders) on the expression as the condition of an `{% if %}`; lines and columns
    /// are the expression's own.
    pub fn validate_expression(&self, source: &str) -> Validation {
        if let Err(err) = self.base.compile_expression(source) {
            return Validation {
                errors: vec![diagnostic_from_error(source, &err)],
                ..Validation::default()
            };
        }
        const PREFIX: &str = "{% if ";
        let mut validation = self.validate(&format!("{PREFIX}{source} %}}{{% endif %}}"));
        let shift = PREFIX.chars().count() as u32;
        let unshift = |line: u32, column: &mut u32| {
            if line == 1 {
                *column = column.saturating_sub(shift).max(1);
            }
        };
        for error in &mut validation.errors {
            unshift(error.line, &mut error.column);
        }
        for warning in &mut validation.warnings {
            unshift(warning.line, &mut warning.column);
        }
        for (line, column) in &mut validation.positions {
            unshift(*line, column);
        }
        validation
    }

    /// Compiles an expression for evaluation with the templates' filters, tests and fuel
    /// (each evaluation has the full render fuel). Check it with
    /// [`Self::validate_expression`] first: this reports only the first syntax error.
    pub fn expression<'s>(
        &self,
        source: &'s str,
    ) -> Result<minijinja::Expression<'_, 's>, TemplateDiagnostic> {
        self.base
            .compile_expression(source)
            .map_err(|err| diagnostic_from_error(source, &err))
    }

    /// What an evaluation's error means: a bound ran out, or the expression failed.
    pub fn expression_error(&self, err: &minijinja::Error) -> RenderError {
        classify(err, self.limits)
    }

    /// Renders a compiled template against a context of scopes, with the full fuel and no
    /// wall-clock bound: for callers with no runtime to keep responsive (tests, tools).
    pub fn render(
        &self,
        template: &CompiledTemplate,
        context: Value,
    ) -> Result<Rendered, RenderError> {
        self.render_full(template, context, Control::default())
    }

    /// The first attempt at a render, cheap enough to make on the async runtime: within
    /// `QUICK_FUEL`. `None` when the template needs more (this time, or the last time it
    /// rendered): then [`Self::render_full`] has to run it, off the runtime.
    pub fn render_quick(
        &self,
        template: &CompiledTemplate,
        context: Value,
    ) -> Result<Option<Rendered>, RenderError> {
        if self.limits.fuel <= QUICK_FUEL {
            return self
                .render_full(template, context, Control::default())
                .map(Some);
        }
        if template.is_heavy() {
            return Ok(None);
        }
        match self.render_in(&self.quick, template, context) {
            Err(RenderError::LimitExceeded { message, .. }) if message == QUICK_OUT_OF_FUEL => {
                template.remember_heavy(true);
                Ok(None)
            }
            other => other.map(Some),
        }
    }

    /// Renders with the full fuel, stopping at `control`'s deadline or cancellation.
    /// Blocking: a render may take up to its wall-clock bound.
    pub fn render_full(
        &self,
        template: &CompiledTemplate,
        context: Value,
        control: Control,
    ) -> Result<Rendered, RenderError> {
        let _installed = budget::Installed::new(control);
        budget::check_time().map_err(|err| classify(&err, self.limits))?;
        self.render_in(&self.base, template, context)
    }

    /// The plain body first; only when it meets a placeholder that needs tracing does the
    /// traced body render, from the start (see the `trace` module).
    fn render_in(
        &self,
        env: &Environment<'static>,
        template: &CompiledTemplate,
        context: Value,
    ) -> Result<Rendered, RenderError> {
        // After a render that needed tracing the next one likely does too (a placeholder
        // empty for most contacts): its plain pass would only stop, so it is skipped.
        if !template.expects_trace()
            && let Some(rendered) = self.pass(env, template, Body::Plain, context.clone())?
        {
            return Ok(rendered);
        }
        let rendered = self
            .pass(env, template, Body::Traced, context)?
            .ok_or_else(|| RenderError::Failed {
                line: 0,
                message: "the traced body stopped for tracing".into(),
            })?;
        template.remember_trace(
            !(rendered.missing.is_empty()
                && rendered.defaulted.is_empty()
                && rendered.filter_failures.is_empty()),
        );
        Ok(rendered)
    }

    /// Renders one body; `None` when the plain body stopped for the traced one.
    ///
    /// The body runs as `Template::render` runs it, but through minijinja's machinery, with
    /// our own instructions (see [`budget`]), which hands back the render's state (for its
    /// trace) and writes into a plain `String`. Nothing may take the reply past its limit:
    /// template text and printed values alike are written through the formatter, which
    /// counts the reply ([`reply`]) and stops before the write that would pass it. The
    /// length is checked once more at the end, should a write ever bypass the count.
    fn pass(
        &self,
        env: &Environment<'static>,
        template: &CompiledTemplate,
        body: Body,
        context: Value,
    ) -> Result<Option<Rendered>, RenderError> {
        let traced = body == Body::Traced;
        let code = template.body(body).map_err(|err| RenderError::Failed {
            line: 0,
            message: err.to_string(),
        })?;
        let mut text = String::with_capacity(code.buffer_size_hint);
        let mut out = machinery::make_string_output(&mut text);
        let tracking = reply::Tracking::start(&out);
        let result = machinery::eval(
            env,
            &code.instructions,
            context,
            &code.blocks,
            &mut out,
            AutoEscape::None,
        );
        drop(tracking);
        drop(out);
        #[cfg(test)]
        LONGEST_REPLY.with(|longest| longest.set(longest.get().max(text.len())));
        let mut state = match result {
            _ if text.len() > self.limits.max_output_bytes => {
                return Err(RenderError::LimitExceeded {
                    limit: MAX_OUTPUT_BYTES_FLAG,
                    message: format!("the reply grew past {} bytes", self.limits.max_output_bytes),
                });
            }
            Ok((_, state)) => state,
            Err(err) if !traced && NeedsTrace::caused(&err) => return Ok(None),
            Err(err) if err.kind() == ErrorKind::OutOfFuel && std::ptr::eq(env, &self.quick) => {
                return Err(RenderError::LimitExceeded {
                    limit: RENDER_FUEL_FLAG,
                    message: QUICK_OUT_OF_FUEL.into(),
                });
            }
            Err(err) => return Err(classify(&err, self.limits)),
        };
        if !std::ptr::eq(env, &self.quick)
            && let Some((consumed, _)) = state.fuel_levels()
        {
            template.remember_heavy(consumed > QUICK_FUEL);
        }
        let trace = state.get_extension_mut::<RenderTrace>().map(std::mem::take);
        // The plain body records nothing; a record means it stopped and the error was lost
        // on the way out.
        if trace.is_some() && !traced {
            return Ok(None);
        }
        let trace = trace.unwrap_or_default();
        Ok(Some(Rendered {
            text,
            missing: trace.missing,
            defaulted: trace.defaulted,
            filter_failures: trace.failures,
        }))
    }
}

#[cfg(test)]
thread_local! {
    /// The longest text a pass on this thread left in its output, finished or not: how far
    /// past its limit a reply was ever written.
    static LONGEST_REPLY: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Marks the quick attempt running out of its slice (never shown to a caller).
const QUICK_OUT_OF_FUEL: &str = "out of the quick slice of fuel";
fn classify(err: &minijinja::Error, limits: RenderLimits) -> RenderError {
    if err.kind() == ErrorKind::OutOfFuel {
        return RenderError::LimitExceeded {
            limit: RENDER_FUEL_FLAG,
            message: format!("the template ran more than {} steps", limits.fuel),
        };
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if let Some(hit) = e.downcast_ref::<LimitHit>() {
            return RenderError::LimitExceeded {
                limit: hit.limit,
                message: hit.message.clone(),
            };
        }
        if let Some(stopped) = e.downcast_ref::<Stopped>() {
            return RenderError::Stopped(stopped.clone());
        }
        source = e.source();
    }
    RenderError::Failed {
        line: err.line().unwrap_or(0),
        message: describe(err),
    }
}

/// Wraps each of `emits` (`<<expr>>`) as `<<(expr)|__emit("path", …)>>` (see [`trace`]).
/// Only text inside the delimiters changes and no line breaks are added, so line numbers
/// stay true.
fn instrument<'a>(source: &str, emits: impl Iterator<Item = &'a Emit>) -> String {
    let mut emits: Vec<_> = emits.collect();
    let mut out = String::with_capacity(source.len() + emits.len() * 40);
    let mut cursor = 0;
    emits.sort_by_key(|e| e.start);
    for emit in emits {
        if emit.start < cursor || emit.end > source.len() {
            continue;
        }
        out.push_str(&source[cursor..emit.start]);
        out.push('(');
        out.push_str(&source[emit.start..emit.end]);
        out.push_str(")|");
        out.push_str(EMIT_FILTER);
        out.push('(');
        let joined = emit.paths.join(&trace::PATH_SEPARATOR.to_string());
        // A JSON string literal is also a valid minijinja string literal.
        out.push_str(&serde_json::Value::from(joined).to_string());
        out.push(')');
        cursor = emit.end;
    }
    out.push_str(&source[cursor..]);
    out
}

fn parse_body<'s>(
    text: &'s str,
    syntax: &SyntaxConfig,
) -> Result<machinery::ast::Stmt<'s>, minijinja::Error> {
    machinery::parse(text, "body", syntax.clone())
}

fn at(source: &str, span: Span, message: String) -> TemplateDiagnostic {
    let (line, column) = line_col(source, span.start_offset as usize);
    TemplateDiagnostic {
        line,
        column,
        message,
    }
}

fn diagnostic_from_error(source: &str, err: &minijinja::Error) -> TemplateDiagnostic {
    let (line, column) = match err.range() {
        Some(range) => line_col(source, range.start),
        None => (err.line().unwrap_or(1) as u32, 1),
    };
    TemplateDiagnostic {
        line,
        column,
        message: describe(err),
    }
}

fn describe(err: &minijinja::Error) -> String {
    match err.detail() {
        Some(detail) => format!("{}: {detail}", err.kind()),
        None => err.kind().to_string(),
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_col(source: &str, offset: usize) -> (u32, u32) {
    let offset = offset.min(source.len());
    let before = source.get(..offset).unwrap_or(source);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line as u32, column as u32)
}

fn did_you_mean<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> String {
    closest(name, candidates)
        .map(|c| format!("; did you mean `{c}`?"))
        .unwrap_or_default()
}

/// The candidate closest to `name` in edit distance, if one is close enough to be a typo.
pub fn closest<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .filter(|c| *c != name)
        .map(|c| (strsim::levenshtein(name, c), c))
        .filter(|(distance, c)| *distance <= 2.max(c.len() / 3))
        .min()
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::{Control, Stopped};
    use minijinja::context;

    fn engine() -> Engine {
        Engine::new(RenderLimits::default())
    }

    #[test]
    fn placeholders_and_missing_paths() {
        let e = engine();
        let t = e
            .compile("Hi <<contact.first_name | fallback(\"there\")>>, plan <<contact.plan | upper>>{% if session.order_id %} <<session.order_id>>{% endif %}")
            .unwrap();
        assert_eq!(
            t.placeholders(),
            ["contact.first_name", "contact.plan", "session.order_id"]
        );
        let out = e
            .render(
                &t,
                context! { contact => context!{ plan => "pro" }, session => context!{} },
            )
            .unwrap();
        assert_eq!(out.text, "Hi there, plan PRO");
        assert!(out.missing.is_empty(), "{:?}", out.missing);
        assert_eq!(out.defaulted, ["contact.first_name"]);

        let out = e.render(&t, context! { contact => context!{} }).unwrap();
        assert_eq!(out.missing, ["contact.plan"]);
    }

    #[test]
    fn syntax_error_has_line_and_column() {
        let errors = engine().compile("Hello\nthere <<contact.plan").unwrap_err();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].line, 2);
        assert!(errors[0].column >= 7, "{errors:?}");
    }

    #[test]
    fn unknown_filter_and_scope_are_reported_together() {
        let errors = engine()
            .compile("<<contcat.plan>> and\n  <<contact.plan | uper>>")
            .unwrap_err();
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert_eq!((errors[0].line, errors[0].column), (1, 3));
        assert!(
            errors[0].message.contains("did you mean `contact`"),
            "{errors:?}"
        );
        assert_eq!(errors[1].line, 2);
        assert!(
            errors[1].message.contains("did you mean `upper`"),
            "{errors:?}"
        );
    }

    #[test]
    fn loop_variables_are_not_scopes() {
        let e = engine();
        let t = e
            .compile("{% for s in contact.segments %}<<s>> <<loop.index>>{% endfor %}")
            .unwrap();
        let out = e
            .render(
                &t,
                context! { contact => context!{ segments => vec!["vip", "beta"] } },
            )
            .unwrap();
        assert_eq!(out.text, "vip 1beta 2");
    }

    #[test]
    fn limits_stop_runaway_templates() {
        let e = engine();
        for body in [
            "{% for i in range(100000000) %}x{% endfor %}",
            "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}",
            "{% for i in range(10000) %}<<\"0123456789\" * 100>>{% endfor %}",
            // minijinja folds operations on constants at compile time, where no runtime
            // guard sees them: the folded constant is charged when it is loaded.
            "{% set l = [\"x\"] * 100000000 %}<<l|join>>",
            "<<([\"x\"] * 100000000)|join>>",
            "<<([\"x\"] * 100000000)|length>>",
            "<<[[\"x\"] * 100000000]|string>>",
            "<<{\"k\": [\"x\"] * 100000000}|tojson>>",
            "<<([\"x\"] * 50000000 + [\"y\"] * 50000000)|join>>",
        ] {
            let t = e.compile(body).unwrap();
            let err = e.render(&t, context! {}).unwrap_err();
            assert!(
                matches!(err, RenderError::LimitExceeded { .. }),
                "{body}: {err:?}"
            );
        }
    }

    /// A render that would take the reply past its limit reports the limit, whatever would
    /// have stopped it afterwards.
    #[test]
    fn output_limit_wins_over_what_happens_after_it() {
        let e = Engine::new(RenderLimits {
            max_output_bytes: 100,
            ..Default::default()
        });
        for body in [
            "<<\"x\" * 101>>",
            "<<\"x\" * 101>><<contact.missing>>",
            "<<\"x\" * 101>><<contact.n + \"text\">>",
            "<<\"x\" * 101>>{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}",
        ] {
            let t = e.compile(body).unwrap();
            match e.render(&t, context! { contact => context! { n => 1 } }) {
                Err(RenderError::LimitExceeded { message, .. }) => {
                    assert!(message.contains("100 bytes"), "{body}: {message}")
                }
                other => panic!("{body}: {other:?}"),
            }
        }
        let t = e.compile("<<\"x\" * 100>>").unwrap();
        assert_eq!(e.render(&t, context! {}).unwrap().text.len(), 100);
    }

    fn limited(max_output_bytes: usize) -> Engine {
        Engine::new(RenderLimits {
            fuel: 100_000_000,
            max_output_bytes,
            ..Default::default()
        })
    }

    /// Writing stops at the limit: no pass ever holds more than the limit in its output,
    /// however much fuel is left (template text, numbers, strings, lists, escaped text).
    #[test]
    fn the_reply_never_grows_past_its_limit() {
        let e = limited(100);
        for body in [
            "{% for i in range(10000) %}0123456789{% endfor %}",
            "{% for i in range(10000) %}{% for j in range(1000) %}x{% endfor %}{% endfor %}",
            "{% for i in range(10000) %}<<i>>{% endfor %}",
            "{% for i in range(10000) %}<<\"ab\" * 7>>{% endfor %}",
            "{% for i in range(10000) %}<<[i, i]>>{% endfor %}",
            "{% autoescape true %}{% for i in range(10000) %}<<\"<&>\">>{% endfor %}{% endautoescape %}",
            "{% macro m() %}0123456789{% endmacro %}{% for i in range(10000) %}<<m()>>{% endfor %}",
            "{% for i in range(10000) %}{% filter upper %}abcdefghij{% endfilter %}{% endfor %}",
            "{% for s in vars.tree recursive %}<<s.n>>-<<loop(s.c)>>{% endfor %}",
        ] {
            let t = e.compile(body).unwrap();
            LONGEST_REPLY.with(|longest| longest.set(0));
            // Within the recursion limit, and ~400 bytes long.
            let tree = (0..40).fold(Vec::<Value>::new(), |c, _| {
                vec![context! { n => "0123456789", c => c }]
            });
            match e.render(&t, context! { vars => context! { tree => tree } }) {
                Err(RenderError::LimitExceeded { message, .. }) => {
                    assert_eq!(message, "the reply grew past 100 bytes", "{body}")
                }
                other => panic!("{body}: {:?}", other.map(|r| r.text.len())),
            }
            let longest = LONGEST_REPLY.with(|longest| longest.get());
            assert!(longest <= 100, "{body}: {longest} bytes written");
        }
    }

    /// The limit is on the reply, to the byte, however it is written; text captured on the
    /// way (macros, `set` and `filter` blocks, `loop(…)`) counts once, when printed.
    #[test]
    fn only_the_reply_counts_against_the_limit() {
        let e = limited(100);
        let tree =
            vec![context! { n => "a", c => vec![context! { n => "b", c => Vec::<Value>::new() }] }];
        let ctx = context! { vars => context! { n => 7, tree => tree } };
        for (body, len) in [
            // 50 bytes of text and 50 of a value; the same with one byte more.
            (format!("{}<<\"y\" * 50>>", "x".repeat(50)), Some(100)),
            (format!("{}<<\"y\" * 50>>", "x".repeat(51)), None),
            (format!("{}<<vars.n>>", "x".repeat(99)), Some(100)),
            (format!("{}<<vars.n>><<vars.n>>", "x".repeat(99)), None),
            (format!("{}<<[1]>>", "x".repeat(97)), Some(100)),
            (format!("{}<<[1]>>", "x".repeat(98)), None),
            // 90 bytes captured, then printed: 90, not 180.
            (
                format!("{{% set x %}}{}{{% endset %}}<<x>>", "x".repeat(90)),
                Some(90),
            ),
            (
                format!("{{% filter upper %}}{}{{% endfilter %}}", "x".repeat(90)),
                Some(90),
            ),
            (
                format!("{{% macro m() %}}{}{{% endmacro %}}<<m()>>", "x".repeat(90)),
                Some(90),
            ),
            (
                format!(
                    "{{% macro m() %}}{}{{% endmacro %}}<<m()>><<m()>>",
                    "x".repeat(50)
                ),
                Some(100),
            ),
            (
                format!(
                    "{{% macro m() %}}{}{{% endmacro %}}<<m()>><<m()>>",
                    "x".repeat(51)
                ),
                None,
            ),
            // Captured several times over, printed once.
            (
                format!(
                    "{{% for i in range(10) %}}{{% set x %}}{}{{% endset %}}{{% if loop.last %}}<<x>>{{% endif %}}{{% endfor %}}",
                    "x".repeat(90)
                ),
                Some(90),
            ),
            (
                format!(
                    "{{% macro m() %}}{}{{% endmacro %}}{{% for i in range(10) %}}{{% set x = m() %}}{{% if loop.last %}}<<x>>{{% endif %}}{{% endfor %}}",
                    "x".repeat(90)
                ),
                Some(90),
            ),
            // A recursive loop's captured output, and the text around it.
            (
                format!(
                    "{{% for s in vars.tree recursive %}}{{% set inner = loop(s.c) %}}{}<<s.n>>[<<inner>>]{{% endfor %}}",
                    "x".repeat(40)
                ),
                Some(86),
            ),
        ] {
            let t = e.compile(&body).unwrap();
            match (e.render(&t, ctx.clone()), len) {
                (Ok(out), Some(len)) => assert_eq!(out.text.len(), len, "{body}"),
                (Err(RenderError::LimitExceeded { message, .. }), None) => {
                    assert_eq!(message, "the reply grew past 100 bytes", "{body}")
                }
                (other, _) => panic!("{body}: {other:?}"),
            }
        }
    }

    #[test]
    fn includes_are_refused() {
        let errors = engine().compile("{% include \"x\" %}").unwrap_err();
        assert!(errors[0].message.contains("include"), "{errors:?}");
    }

    /// The plain body finishes only where the traced body records nothing, and then with
    /// the same reply; whichever body the engine starts with, it answers as the traced one.
    #[test]
    fn plain_and_traced_bodies_agree() {
        let e = engine();
        let bodies = [
            "Hi <<contact.first_name | fallback(\"there\")>>, plan <<contact.plan>>.",
            "<<contact.tags>>|<<contact.none>>|<<contact.blank>>|<<contact.n>>",
            // A fallback in a condition, a filter failing outside a placeholder.
            "{% if contact.plan | fallback(\"\") %}on {% endif %}<<contact.plan>>",
            "{% set d = contact.renewal | date %}<<contact.plan>>",
            "<<contact.renewal | date(\"%d/%m\") | fallback(\"soon\")>>",
            // Printed values that are not placeholders.
            "{% filter trim %} <<contact.plan>> {% endfilter %}!",
            "{% macro m(x) %}<<x>>{% endmacro %}<<m(contact.plan)>>",
            // Written by minijinja without passing through the formatter.
            "{% for s in contact.segments recursive %}[<<s.name>><<loop(s.children)>>]{% endfor %}",
        ];
        let full = context! { contact => context! {
            first_name => "Jane", plan => "pro", tags => vec!["vip"], none => "x", blank => "y",
            n => 0, renewal => "2026-12-15",
            segments => vec![context! { name => "a", children => vec![
                context! { name => "b", children => vec![context! { name => "c" }] },
            ] }],
        } };
        let sparse = context! { contact => context! {
            plan => "  ", tags => Vec::<String>::new(), none => (), renewal => "soon",
            segments => vec![context! { name => "a", children => Vec::<Value>::new() }],
        } };
        for body in bodies {
            let t = e.compile(body).unwrap();
            for ctx in [&full, &sparse, &context! {}] {
                let traced = e
                    .pass(&e.base, &t, Body::Traced, ctx.clone())
                    .unwrap()
                    .unwrap();
                if let Some(plain) = e.pass(&e.base, &t, Body::Plain, ctx.clone()).unwrap() {
                    assert_eq!(plain, traced, "{body}");
                    assert!(
                        traced.missing.is_empty()
                            && traced.defaulted.is_empty()
                            && traced.filter_failures.is_empty(),
                        "{body}: the plain body finished over {traced:?}"
                    );
                }
                for _ in 0..2 {
                    assert_eq!(e.render(&t, ctx.clone()).unwrap(), traced, "{body}");
                }
            }
        }
        // Template text that is only blanks is not taken for an empty placeholder.
        for body in [bodies[0], "<<contact.plan>> \n <<contact.first_name>>\n"] {
            let t = e.compile(body).unwrap();
            let plain = e.pass(&e.base, &t, Body::Plain, full.clone()).unwrap();
            assert!(plain.is_some(), "{body}");
        }
    }

    /// The formatter writes text itself; everything prints as minijinja's own formatter
    /// prints it, escaped where a template turns escaping on.
    #[test]
    fn values_print_as_minijinja_prints_them() {
        let e = engine();
        let mut bare = Environment::new();
        bare.set_syntax(e.syntax.clone());
        bare.set_auto_escape_callback(|_| AutoEscape::None);
        let ctx = context! { vars => context! {
            s => "plain text", n => 42, f => 1.5, b => true, l => vec![1, 2],
            m => context! { k => "v" }, h => "<b>Tom & Jerry</b>",
        } };
        for body in [
            "<<vars.s>> <<vars.n>> <<vars.f>> <<vars.b>> <<vars.l>> <<vars.m>> <<vars.h>>",
            "{% autoescape true %}<<vars.h>> <<vars.h | safe>> <<vars.s>>{% endautoescape %}",
            // Template text is written as it is, in an escaping block too.
            "{% autoescape true %}<i>Tom & \"Jerry\"</i> <<vars.h>>\n{% endautoescape %}",
            "{% autoescape \"json\" %}<<vars.h>> <<vars.n>>{% endautoescape %}",
        ] {
            let t = e.compile(body).unwrap();
            let expected = bare.render_str(body, ctx.clone()).unwrap();
            assert_eq!(e.render(&t, ctx.clone()).unwrap().text, expected, "{body}");
        }
    }

    #[test]
    fn a_failing_filter_leaves_its_placeholder_missing() {
        let e = engine();
        let t = e
            .compile("Renews <<contact.renewal | date(\"%d/%m\")>>; <<contact.n | number>>")
            .unwrap();
        let out = e
            .render(
                &t,
                context! { contact => context!{ renewal => "soon", n => 1234 } },
            )
            .unwrap();
        assert_eq!(out.text, "Renews ; 1,234");
        assert_eq!(out.missing, ["contact.renewal"]);
        assert!(out.filter_failures[0].contains("soon"), "{out:?}");

        let t = e
            .compile("<<contact.renewal | date(\"%d/%m\") | fallback(\"soon\")>>")
            .unwrap();
        let out = e
            .render(&t, context! { contact => context!{ renewal => "?" } })
            .unwrap();
        assert_eq!(out.text, "soon");
        assert_eq!(out.defaulted, ["contact.renewal"]);
    }

    #[test]
    fn settings_cannot_be_read_or_forged_by_a_template() {
        let e = engine();
        let errors = e.compile("<<__render>>").unwrap_err();
        assert!(errors[0].message.contains("unknown scope"), "{errors:?}");
        // Shadowing the reserved name only brings the defaults back.
        let t = e
            .compile("{% set __render = 5 %}<<vars.n | number(1)>>")
            .unwrap();
        let settings = super::super::RenderSettings {
            locale: super::super::locale::Locale::find("fr").unwrap(),
            ..Default::default()
        };
        let out = e
            .render(
                &t,
                context! { vars => context!{ n => 1.5 }, __render => settings.into_value() },
            )
            .unwrap();
        assert_eq!(out.text, "1.5");
    }

    #[test]
    fn tests_are_checked_when_written() {
        let e = engine();
        let errors = e
            .compile("{% if contact.plan is presnt %}x{% endif %}")
            .unwrap_err();
        assert!(
            errors[0]
                .message
                .contains("unknown test `presnt`; did you mean `present`?"),
            "{errors:?}"
        );
        e.compile("{% if contact.plan is defined and contact.n is divisibleby(2) and contact.x is not none %}x{% endif %}")
            .unwrap();
    }

    #[test]
    fn literal_filter_arguments_are_checked_when_written() {
        let errors = engine()
            .compile("<<vars.d | date(\"%Q\")>>\n<<vars.d | date(\"%d\", \"Europe/Pariss\")>>\n<<vars.a | currency(\"euro\")>> <<vars.a | curency(\"EUR\")>>")
            .unwrap_err();
        assert_eq!(errors.len(), 4, "{errors:?}");
        assert!(errors[0].message.contains("strftime"), "{errors:?}");
        assert_eq!(errors[1].line, 2);
        assert!(errors[1].message.contains("IANA"), "{errors:?}");
        assert!(errors[2].message.contains("ISO 4217"), "{errors:?}");
        assert!(
            errors[3].message.contains("did you mean `currency`"),
            "{errors:?}"
        );
    }

    /// Render cost of the formatting filters; run with
    /// `cargo test --release --lib render_cost -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn render_cost() {
        let e = engine();
        let settings = super::super::RenderSettings {
            locale: super::super::locale::Locale::find("fr").unwrap(),
            time_zone: "Europe/Paris".parse().unwrap(),
            now: chrono::Utc::now(),
        };
        let context = context! {
            contact => context!{ nickname => "Jane Doe", ltv => 4820.5, renewal => "2026-12-15T09:30:00Z" },
            __render => settings.into_value(),
        };
        for (label, body) in [
            (
                "plain",
                "Hi <<contact.nickname>>, <<contact.ltv>> on <<contact.renewal>>",
            ),
            (
                "filters",
                "Hi <<contact.nickname | first_name>>, <<contact.ltv | currency(\"EUR\")>> on <<contact.renewal | date(\"%d/%m/%Y %H:%M\")>>",
            ),
        ] {
            let t = e.compile(body).unwrap();
            let n = 200_000;
            let started = std::time::Instant::now();
            for _ in 0..n {
                std::hint::black_box(e.render(&t, context.clone()).unwrap());
            }
            let per = started.elapsed().as_nanos() / n;
            println!("{label}: {per} ns per render");
        }
    }

    /// A render in its slot stops at its deadline and when its caller cancels it.
    #[test]
    fn a_full_render_stops_at_its_deadline_or_when_cancelled() {
        let e = Engine::new(RenderLimits {
            fuel: 1_000_000_000,
            max_output_bytes: 100_000_000,
            ..Default::default()
        });
        let t = e
            .compile("{% for i in range(10000) %}{% for j in range(1000) %}<<j>>{% endfor %}{% endfor %}")
            .unwrap();
        let started = std::time::Instant::now();
        let deadline = started + std::time::Duration::from_millis(50);
        let control = Control {
            deadline: Some((deadline, Stopped::Deadline)),
            cancel: None,
        };
        match e.render_full(&t, context! {}, control) {
            Err(RenderError::Stopped(Stopped::Deadline)) => {}
            other => panic!("{:?}", other.map(|r| r.text.len())),
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        let cancel = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let control = Control {
            deadline: None,
            cancel: Some(cancel),
        };
        assert!(matches!(
            e.render_full(&t, context! {}, control),
            Err(RenderError::Stopped(Stopped::Cancelled))
        ));
        // The quick attempt gives up past its slice, and remembers the template as heavy.
        assert!(e.render_quick(&t, context! {}).unwrap().is_none());
        assert!(t.is_heavy());
    }

    /// Searches for slow templates: random bodies built from the operators and filters that
    /// build values, rendered with the default limits; prints the slowest body per size.
    /// Run with `cargo test --release --lib slow_template_search -- --ignored --nocapture`
    /// (`SEARCH_ROUNDS` bodies per size, 2000 by default).
    #[test]
    #[ignore]
    fn slow_template_search() {
        const ATOMS: &[&str] = &[
            "(range(10000)|list)",
            "\"x\" * 100000",
            "[\"y\" * 1000]",
            "range(100)",
            "(\"ab\" * 50000)",
            "[1, 2, 3]",
            "contact",
            "10000",
            "-1",
        ];
        const OPS: &[&str] = &[
            "({a} * {b})",
            "({a} + {b})",
            "({a} ~ {b})",
            "{a}[{b}]",
            "{a}[::-1]",
            "({a}|join)",
            "({a}|sort)",
            "({a}|unique|list)",
            "({a}|reverse|list)",
            "({a}|string)",
            "({a}|tojson)",
            "({a}|sum(start=[]))",
            "({a}|max)",
            "({a}|map(\"string\")|list)",
            "({a}|batch(3)|list)",
            "({a}|length)",
        ];
        let e = engine();
        let rounds: usize = std::env::var("SEARCH_ROUNDS")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(2000);
        let mut seed: u64 = 0x9e3779b97f4a7c15;
        let mut next = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        for depth in 1..=4 {
            let mut slowest = (std::time::Duration::ZERO, String::new(), String::new());
            for _ in 0..rounds {
                let mut expr = ATOMS[next(ATOMS.len())].to_string();
                for _ in 0..depth {
                    let b = ATOMS[next(ATOMS.len())];
                    expr = OPS[next(OPS.len())].replace("{a}", &expr).replace("{b}", b);
                }
                let body = match next(3) {
                    0 => format!("<<{expr}>>"),
                    1 => format!("{{% for i in range(100) %}}<<{expr}>>{{% endfor %}}"),
                    _ => format!("{{% set v = {expr} %}}{{% for x in v %}}<<x>>{{% endfor %}}"),
                };
                let Ok(t) = e.compile(&body) else { continue };
                let started = std::time::Instant::now();
                let outcome = e.render(&t, context! { contact => context! { plan => "pro" } });
                let took = started.elapsed();
                if took > slowest.0 {
                    let outcome = match outcome {
                        Ok(r) => format!("ok, {} bytes", r.text.len()),
                        Err(err) => err.to_string(),
                    };
                    slowest = (took, body, outcome);
                }
            }
            println!(
                "depth {depth}: slowest {:?}: {} => {}",
                slowest.0, slowest.1, slowest.2
            );
        }
    }
}
