//! Everything the command prints: a table (or a sentence) for people, one
//! JSON document with `--json`, and every byte through [`Secrets::scrub`].

use std::fmt::Display;

use comfy_table::Table;
use sequences_cli::redact::Secrets;
use sequences_core::entity::void;
use sequences_core::{AuditReport, BreakKind, ChainReport, LockHolder, SequenceInfo};
use serde_json::{Value, json};

use crate::error::CliError;

/// What a command prints: its JSON and its text.
pub trait Render {
    fn to_json(&self) -> Value;
    fn to_text(&self) -> String;
}

/// Where everything goes, with the database URL's secrets hidden: a driver
/// or database message may repeat them.
pub struct Out {
    secrets: Secrets,
    json: bool,
}

impl Out {
    pub fn new(secrets: Secrets, json: bool) -> Self {
        Self { secrets, json }
    }

    pub fn is_json(&self) -> bool {
        self.json
    }

    /// The URL's secrets, for messages that show the URL.
    pub fn secrets(&self) -> &Secrets {
        &self.secrets
    }

    /// A command's result, as JSON or as text.
    pub fn print(&self, result: &impl Render) {
        if self.json {
            self.json(result.to_json());
        } else {
            self.line(result.to_text());
        }
    }

    /// An error: `{"error": {"kind", "message"}}` on stdout with `--json`,
    /// one line starting `error: ` on stderr otherwise.
    pub fn error(&self, error: &CliError) {
        if self.json {
            self.json(json!({"error": {"kind": error.kind.as_str(), "message": error.message}}));
        } else {
            self.warn(format!("error: {}", error.message.replace('\n', " ")));
        }
    }

    /// A line on stdout.
    pub fn line(&self, text: impl Display) {
        println!("{}", self.secrets.scrub(&text.to_string()));
    }

    /// A line on stderr (a warning, an error).
    pub fn warn(&self, text: impl Display) {
        eprintln!("{}", self.secrets.scrub(&text.to_string()));
    }

    /// A question on stderr, the answer typed after it on the same line.
    pub fn ask(&self, text: impl Display) {
        use std::io::Write as _;
        eprint!("{}", self.secrets.scrub(&text.to_string()));
        let _ = std::io::stderr().flush();
    }

    /// Secrets hidden in the values, so that the JSON stays valid whatever
    /// the password's characters.
    fn json(&self, mut value: Value) {
        self.scrub_json(&mut value);
        println!("{value}");
    }

    fn scrub_json(&self, value: &mut Value) {
        match value {
            Value::String(text) => *text = self.secrets.scrub(text),
            Value::Array(items) => items.iter_mut().for_each(|v| self.scrub_json(v)),
            Value::Object(map) => {
                *map = std::mem::take(map)
                    .into_iter()
                    .map(|(key, mut v)| {
                        self.scrub_json(&mut v);
                        (self.secrets.scrub(&key), v)
                    })
                    .collect();
            }
            _ => {}
        }
    }
}

/// The result of a write: a sentence, or its facts as JSON.
pub struct Done {
    pub text: String,
    pub json: Value,
}

impl Render for Done {
    fn to_json(&self) -> Value {
        self.json.clone()
    }

    fn to_text(&self) -> String {
        self.text.clone()
    }
}

/// A library report as JSON, through its `serde` form.
fn report<T: serde::Serialize + ?Sized>(report: &T) -> Value {
    serde_json::to_value(report).expect("a report serializes")
}

/// `sequences list`.
pub struct SequenceList<'a>(pub &'a [SequenceInfo]);

impl Render for SequenceList<'_> {
    fn to_json(&self) -> Value {
        Value::Array(
            self.0
                .iter()
                .map(|s| {
                    let mut value = report(s);
                    value["near_end"] = json!(s.near_end());
                    value
                })
                .collect(),
        )
    }

    fn to_text(&self) -> String {
        let mut table = table([
            "name", "last", "closed", "last day", "voided", "chain", "range",
        ]);
        for s in self.0 {
            table.add_row([
                s.name.clone(),
                s.last.to_string(),
                yes(s.closed),
                s.last_day.map(|d| d.to_string()).unwrap_or_default(),
                s.voided.to_string(),
                yes(s.chained),
                range_mark(s),
            ]);
        }
        table.to_string()
    }
}

/// A sequence's recorded range, marked once `last` reaches `warn_at` (or
/// the end).
fn range_mark(s: &SequenceInfo) -> String {
    let end = s.max_value.map(|max| format!("up to {max}"));
    let mark = match (s.max_value, s.warn_at) {
        (Some(_), _) if s.exhausted() => Some("EXHAUSTED".to_owned()),
        (Some(max), _) if s.near_end() => Some(format!("NEAR END, {} left", max - s.last)),
        (None, Some(warn_at)) if s.near_end() => Some(format!("NEAR END, past {warn_at}")),
        _ => None,
    };
    match (mark, end) {
        (Some(mark), Some(end)) => format!("{mark} ({end})"),
        (Some(mark), None) => mark,
        (None, Some(end)) => end,
        (None, None) => String::new(),
    }
}

/// `sequences show`: one sequence's row and its voids.
pub struct SequenceDetail {
    pub name: String,
    pub state: sequences_core::entity::Model,
    pub voids: Vec<void::Model>,
    /// The value the next allocation would hand out (`Sequence::peek`), unless
    /// the range is exhausted.
    pub next: Option<i64>,
}

impl Render for SequenceDetail {
    fn to_json(&self) -> Value {
        let state = &self.state;
        let voids: Vec<Value> = self
            .voids
            .iter()
            .map(|v| json!({"value": v.value, "reason": v.reason, "voided_at": v.voided_at}))
            .collect();
        let mut value = json!({"name": self.name, "last": state.last, "closed": state.closed,
            "last_day": state.last_day.map(|d| sequences_core::Day::from_number(d).to_string()),
            "chain_head": state.chain_head, "voids": voids});
        if let Some(next) = self.next {
            value["next"] = next.into();
        }
        value
    }

    fn to_text(&self) -> String {
        let state = &self.state;
        let mut rows = table(["", ""]);
        rows.add_row(["name".to_owned(), self.name.clone()]);
        rows.add_row(["last".to_owned(), state.last.to_string()]);
        rows.add_row(["closed".to_owned(), yes(state.closed)]);
        if let Some(day) = state.last_day {
            rows.add_row([
                "last day".to_owned(),
                sequences_core::Day::from_number(day).to_string(),
            ]);
        }
        if let Some(head) = &state.chain_head {
            rows.add_row(["chain head".to_owned(), head.clone()]);
        }
        let mut text = rows.to_string();
        if let Some(next) = self.next {
            text =
                format!("{text}\nnext: {next} (a preview: another transaction may take it first)");
        }
        if !self.voids.is_empty() {
            let mut list = table(["void", "reason", "at"]);
            for v in &self.voids {
                list.add_row([v.value.to_string(), v.reason.clone(), v.voided_at.clone()]);
            }
            text = format!("{text}\n{list}");
        }
        text
    }
}

/// `sequences holders`.
pub struct Holders<'a>(pub &'a [LockHolder]);

impl Render for Holders<'_> {
    fn to_json(&self) -> Value {
        let mut holders = report(self.0);
        for (value, h) in holders.as_array_mut().into_iter().flatten().zip(self.0) {
            value["role"] = if h.holding { "holding" } else { "waiting" }.into();
            value["for_ms"] = json!((h.for_ms * 10.0).round() / 10.0);
        }
        holders
    }

    fn to_text(&self) -> String {
        if self.0.is_empty() {
            return "no session holds or waits for a sequence".to_owned();
        }
        let mut table = table(["sequence", "session", "role", "for", "detail"]);
        for h in self.0 {
            table.add_row([
                h.sequence
                    .clone()
                    .unwrap_or_else(|| "(database)".to_owned()),
                h.session.map(|s| s.to_string()).unwrap_or_default(),
                role(h).to_owned(),
                format!("{:.1} s", h.for_ms / 1000.0),
                h.detail.clone().unwrap_or_default(),
            ]);
        }
        table.to_string()
    }
}

fn role(holder: &LockHolder) -> &'static str {
    match (holder.holding, holder.inferred) {
        (true, false) => "holding",
        (true, true) => "holding (inferred)",
        (false, _) => "waiting",
    }
}

/// A holder as a lock-timeout error names it: "session 4711 (idle in
/// transaction (psql), for 3.2 s)".
pub fn holder_phrase(holder: &LockHolder) -> String {
    let who = match holder.session {
        Some(session) => format!("session {session}"),
        None => "another writer".to_owned(),
    };
    let detail = holder.detail.as_deref().unwrap_or("no detail");
    let inferred = if holder.inferred {
        ", inferred: its transaction holds row locks"
    } else {
        ""
    };
    format!(
        "{who} ({detail}, for {:.1} s{inferred})",
        holder.for_ms / 1000.0
    )
}

/// `sequences audit`: the report, its scope columns named.
pub struct Audit<'a> {
    pub report: &'a AuditReport,
    pub scope: &'a [String],
    /// `--without-counter`: the rows were compared with no counter.
    pub rows_only: bool,
}

impl Render for Audit<'_> {
    fn to_json(&self) -> Value {
        let report = self.report;
        let mut value = self::report(report);
        for (group, g) in value["groups"]
            .as_array_mut()
            .into_iter()
            .flatten()
            .zip(&report.groups)
        {
            // The scope by column name, as the command was given it.
            group["scope"] = self
                .scope
                .iter()
                .zip(&g.scope)
                .map(|(k, v)| (k.clone(), json!(v)))
                .collect::<serde_json::Map<_, _>>()
                .into();
            group["clean"] = g.is_clean().into();
        }
        value["clean"] = report.is_clean().into();
        value["compared_with_counters"] = (!self.rows_only).into();
        value
    }

    fn to_text(&self) -> String {
        let report = self.report;
        let mut table = table([
            "scope",
            "sequence",
            "rows",
            "first",
            "last",
            "seq. last",
            "missing",
            "voided",
            "duplicates",
            "inversions",
            "unnumbered",
            "",
        ]);
        for g in &report.groups {
            let scope = g
                .scope
                .iter()
                .map(|v| v.clone().unwrap_or_else(|| "NULL".to_owned()))
                .collect::<Vec<_>>()
                .join(", ");
            let missing = if g.gaps.is_empty() {
                g.missing.to_string()
            } else {
                let ranges: Vec<String> = g
                    .gaps
                    .iter()
                    .take(5)
                    .map(|r| range(*r.start(), *r.end()))
                    .collect();
                format!("{} ({})", g.missing, ranges.join(", "))
            };
            table.add_row([
                scope,
                g.sequence.clone().unwrap_or_default(),
                g.rows.to_string(),
                opt(g.first),
                opt(g.last),
                opt(g.sequence_last),
                missing,
                g.voided.len().to_string(),
                g.duplicate_rows.to_string(),
                g.inversions.to_string(),
                g.unnumbered.to_string(),
                if g.is_clean() { "clean" } else { "DEFECT" }.to_owned(),
            ]);
        }
        let mut lines = vec![table.to_string()];
        if report.unreadable > 0 {
            lines.push(format!(
                "{} reference(s) do not match the format",
                report.unreadable
            ));
        }
        if let Some(pending) = &report.pending {
            // After COMMIT: rows waiting for a numberer, and rows it refused.
            let idle = match pending.numberer_idle {
                _ if pending.heartbeat_ahead => {
                    "the numberer's heartbeat is dated in the FUTURE: written by hand".to_owned()
                }
                Some(idle) => format!("its heartbeat says a numberer ran {}s ago", idle.as_secs()),
                None => "no numberer ever stamped a heartbeat".to_owned(),
            };
            lines.push(format!(
                "{} row(s) waiting for their number when the audit looked, {} still waiting \
                 after {}s ({idle})",
                pending.waiting,
                pending.overdue,
                pending.max_wait.as_secs()
            ));
            if !pending.keys_kept {
                lines.push(
                    "the waiting rows' key is not guarded (no intact triggers on the table's \
                     primary key): rows that leave make the audit watch every waiting row"
                        .to_owned(),
                );
            }
            if pending.unwatched > 0 {
                lines.push(format!(
                    "{} waiting row(s) the audit could NOT watch for {}s (beyond the first \
                     million, or under a key that changed while it watched): run it again",
                    pending.unwatched,
                    pending.max_wait.as_secs()
                ));
            }
            for (key, reason) in pending.refused.iter().take(20) {
                lines.push(format!("REFUSED row {key}: {reason}"));
            }
        }
        if let Some(triggers) = &report.triggers {
            // A column numbered by the database: its guards, as installed or not.
            lines.push(triggers.to_string());
        }
        lines.push(
            if report.is_clean() && self.rows_only {
                "clean among the rows (compared with no counter: numbers deleted after the last \
                 row are not seen)"
            } else if report.is_clean() {
                "clean: every number accounted for"
            } else {
                "DEFECTS found"
            }
            .to_owned(),
        );
        lines.join("\n")
    }
}

/// `sequences verify`.
pub struct Chains<'a>(pub &'a ChainReport);

impl Render for Chains<'_> {
    fn to_json(&self) -> Value {
        let mut value = report(self.0);
        for (chain, c) in value["chains"]
            .as_array_mut()
            .into_iter()
            .flatten()
            .zip(&self.0.chains)
        {
            chain["intact"] = (c.breaks.is_empty() && c.unnumbered == 0).into();
        }
        value["intact"] = self.0.is_intact().into();
        value
    }

    fn to_text(&self) -> String {
        let mut table = table(["sequence", "starts at", "links", "unnumbered", "breaks"]);
        for c in &self.0.chains {
            let breaks: Vec<String> = c
                .breaks
                .iter()
                .take(5)
                .map(|b| format!("{}: {}", range(b.number, b.through), break_kind(b.kind)))
                .collect();
            let more = c.breaks.len().saturating_sub(5);
            table.add_row([
                c.sequence.clone(),
                opt(c.starts_at),
                c.links.to_string(),
                c.unnumbered.to_string(),
                if c.breaks.is_empty() && c.unnumbered == 0 {
                    "intact".to_owned()
                } else if more > 0 {
                    format!("{}; and {more} more", breaks.join("; "))
                } else {
                    breaks.join("; ")
                },
            ]);
        }
        let verdict = if self.0.is_intact() {
            "intact: every chain verifies to its head"
        } else {
            "BROKEN chain(s)"
        };
        format!("{table}\n{verdict}")
    }
}

fn break_kind(kind: BreakKind) -> &'static str {
    match kind {
        BreakKind::Altered => {
            "altered (a covered field or the number was edited, or a record was inserted or swapped)"
        }
        BreakKind::Missing => "missing (deleted, and not recorded void)",
        BreakKind::Duplicate => "duplicated",
        BreakKind::Unhashed => "unhashed (written behind the library's back)",
        BreakKind::Head => {
            "the chain does not end at its head (records at the end deleted, or the head moved)"
        }
        BreakKind::Checkpoint => {
            "does not reach the checkpoint's head (rewritten or cut since the checkpoint)"
        }
        BreakKind::Outside => "numbered below the sequence's initial value (forged)",
        _ => "broken",
    }
}

fn table<const N: usize>(header: [&str; N]) -> Table {
    let mut table = Table::new();
    table.load_preset(comfy_table::presets::ASCII_MARKDOWN);
    table.set_header(header);
    table
}

fn yes(flag: bool) -> String {
    if flag { "yes" } else { "" }.to_owned()
}

fn opt(value: Option<i64>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

/// `7` or `7..=9`.
fn range(first: i64, last: i64) -> String {
    if first == last {
        first.to_string()
    } else {
        format!("{first}..={last}")
    }
}

/// clap's own message (usage, `--help`, `--version`), with any URL found in
/// the arguments or `DATABASE_URL` hidden: a mistyped command line may echo
/// it. A usage error under `--json` is a JSON error like any other.
pub fn usage_error(error: clap::Error) -> std::process::ExitCode {
    let urls = std::env::args()
        .skip(1)
        .chain(std::env::var("DATABASE_URL"))
        .flat_map(|arg| {
            // `--database-url=URL` as well as a URL on its own.
            let value = arg.split_once('=').map(|(_, v)| v.to_owned());
            [Some(arg), value]
        })
        .flatten()
        .map(|text| Secrets::of_url(&text))
        .collect::<Vec<_>>();
    let scrub = |text: String| urls.iter().fold(text, |text, secrets| secrets.scrub(&text));
    let code = std::process::ExitCode::from(u8::try_from(error.exit_code()).unwrap_or(2));
    let json = std::env::args().skip(1).any(|arg| arg == "--json");
    if json && error.use_stderr() {
        let message = match error.kind() {
            clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                "no command given; see sequences --help".to_owned()
            }
            _ => {
                let rendered = error.render().to_string();
                let first = rendered.lines().next().unwrap_or_default();
                first.strip_prefix("error: ").unwrap_or(first).to_owned()
            }
        };
        let error = json!({"error": {"kind": "bad_input", "message": scrub(message)}});
        println!("{error}");
        return code;
    }
    let text = scrub(error.render().to_string());
    if error.use_stderr() {
        eprint!("{text}");
    } else {
        print!("{text}");
    }
    code
}
