//! Keeping a database password out of everything a program prints.
//!
//! A driver's error may repeat the connection URL whole ("The connection
//! string '...' cannot be parsed"), so hiding the password in our own prefix
//! is not enough: [`Secrets::scrub`] takes every message before it is printed.
//!
//! ```
//! use sequences_cli::redact::Secrets;
//!
//! let secrets = Secrets::of_url("postgres://admin:S3cretPW@db.internal/app");
//! assert_eq!(secrets.url(), "postgres://admin:***@db.internal/app");
//! assert_eq!(
//!     secrets.scrub("password S3cretPW rejected"),
//!     "password *** rejected"
//! );
//! ```

use percent_encoding::percent_decode_str;
use url::Url;

/// What replaces a secret.
pub const MASK: &str = "***";

/// The secrets of one connection URL, to hide wherever they appear.
#[derive(Clone, Debug)]
pub struct Secrets {
    raw: String,
    shown: String,
    /// Every form of every secret, longest first.
    needles: Vec<String>,
}

impl Secrets {
    /// The password of `url`'s userinfo and the values of its query
    /// parameters that look secret ([`is_secret_parameter`]), read by the
    /// `url` crate and, so that a URL it cannot parse (or parses otherwise
    /// than its author meant) leaks nothing either, by a conservative scan:
    /// everything after the first `:` of the userinfo, up to the last `@`.
    pub fn of_url(url: &str) -> Self {
        let mut values = parsed_secrets(url);
        values.extend(scanned_secrets(url));
        let mut needles: Vec<String> = Vec::new();
        for value in values {
            let plus_as_space = value.replace('+', " ");
            for form in [
                percent_decode_str(&value).decode_utf8_lossy().into_owned(),
                percent_decode_str(&plus_as_space)
                    .decode_utf8_lossy()
                    .into_owned(),
                value,
            ] {
                if !form.is_empty() && !needles.contains(&form) {
                    needles.push(form);
                }
            }
        }
        // Longest first, so that a secret containing another goes whole.
        needles.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        let shown = replace_all(url, &needles);
        Self {
            raw: url.to_owned(),
            shown,
            needles,
        }
    }

    /// The URL to show: every secret replaced by [`MASK`].
    pub fn url(&self) -> &str {
        &self.shown
    }

    /// Whether the URL holds anything to hide.
    pub fn is_empty(&self) -> bool {
        self.needles.is_empty()
    }

    /// `text` with the URL shown in its place and every secret masked,
    /// decoded or not.
    pub fn scrub(&self, text: &str) -> String {
        if self.needles.is_empty() {
            return text.to_owned();
        }
        replace_all(&text.replace(&self.raw, &self.shown), &self.needles)
    }
}

/// `url` with its password and secret query parameters replaced by [`MASK`].
pub fn redact_url(url: &str) -> String {
    Secrets::of_url(url).shown
}

/// Whether a query parameter holds a secret: its name contains `password`,
/// `passwd`, `pwd`, `secret`, `token` or `key`, in any case.
pub fn is_secret_parameter(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["password", "passwd", "pwd", "secret", "token", "key"]
        .iter()
        .any(|word| name.contains(word))
}

fn replace_all(text: &str, needles: &[String]) -> String {
    needles
        .iter()
        .fold(text.to_owned(), |text, needle| text.replace(needle, MASK))
}

/// The secrets as the `url` crate (and so sqlx) reads them.
fn parsed_secrets(url: &str) -> Vec<String> {
    let Ok(parsed) = Url::parse(url) else {
        return Vec::new();
    };
    let mut values: Vec<String> = parsed.password().map(str::to_owned).into_iter().collect();
    values.extend(
        parsed
            .query_pairs()
            .filter(|(name, _)| is_secret_parameter(name))
            .map(|(_, value)| value.into_owned()),
    );
    values.extend(parsed.query().map(query_secrets).unwrap_or_default());
    values
}

/// The secrets found by a scan that trusts nothing of the URL's syntax.
fn scanned_secrets(url: &str) -> Vec<String> {
    let mut values = Vec::new();
    if let Some(scheme_end) = url.find("://") {
        let rest = &url[scheme_end + 3..];
        if let Some(at) = rest.rfind('@')
            && let Some((_user, password)) = rest[..at].split_once(':')
        {
            values.push(password.to_owned());
        }
    }
    if let Some((_, query)) = url.split_once('?') {
        values.extend(query_secrets(query));
    }
    values.extend(keyword_secrets(url));
    values
}

/// The values of secret keywords of a keyword/value connection string, as
/// libpq (`host=db password=secret`) and others (`Password=secret;`) take
/// them: each up to whitespace, `;` or `&`, or within its single quotes.
fn keyword_secrets(text: &str) -> Vec<String> {
    let separator = |c: char| c.is_whitespace() || matches!(c, ';' | '&' | '?');
    let mut values = Vec::new();
    for (at, _) in text.match_indices('=') {
        let before = text[..at].trim_end();
        let name_start = before.rfind(separator).map_or(0, |i| i + 1);
        if !is_secret_parameter(&before[name_start..]) {
            continue;
        }
        let rest = text[at + 1..].trim_start();
        let value = match rest.strip_prefix('\'') {
            Some(quoted) => quoted.split('\'').next().unwrap_or(quoted),
            None => rest.split(separator).next().unwrap_or(rest),
        };
        if !value.is_empty() {
            values.push(value.to_owned());
        }
    }
    values
}

/// The raw values of a query's secret parameters, each up to the next `&`.
fn query_secrets(query: &str) -> Vec<String> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .filter(|(name, _)| {
            is_secret_parameter(name)
                || is_secret_parameter(&percent_decode_str(name).decode_utf8_lossy())
        })
        .map(|(_, value)| value.to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PW: &str = "S3cretPW";

    #[track_caller]
    fn hidden(url: &str, expected_url: &str) {
        let secrets = Secrets::of_url(url);
        assert_eq!(secrets.url(), expected_url, "{url}");
        let message = format!("The connection string '{url}' cannot be parsed ({url})");
        let scrubbed = secrets.scrub(&message);
        assert!(!scrubbed.contains(PW), "{scrubbed}");
        assert!(scrubbed.contains(expected_url), "{scrubbed}");
    }

    #[test]
    fn passwords_in_the_userinfo() {
        hidden(
            "postgres://admin:S3cretPW@127.0.0.1:5432/db",
            "postgres://admin:***@127.0.0.1:5432/db",
        );
        hidden(
            "mysql://admin:S3cretPW@127.0.0.1/db",
            "mysql://admin:***@127.0.0.1/db",
        );
        hidden(
            "foo://admin:S3cretPW@127.0.0.1/db",
            "foo://admin:***@127.0.0.1/db",
        );
    }

    #[test]
    fn keyword_value_connection_strings() {
        for text in [
            "host=127.0.0.1 user=admin password=S3cretPW dbname=db",
            "host=127.0.0.1 password = 'S3cretPW' dbname=db",
            "Server=db;User Id=admin;Password=S3cretPW;Database=db",
        ] {
            let secrets = Secrets::of_url(text);
            assert!(!secrets.url().contains(PW), "{}", secrets.url());
            let scrubbed = secrets.scrub(&format!("cannot parse '{text}'"));
            assert!(!scrubbed.contains(PW), "{scrubbed}");
        }
    }

    #[test]
    fn urls_the_url_crate_refuses() {
        hidden(
            "postgres://admin:S3cretPW@127.0.0.1:notaport/db",
            "postgres://admin:***@127.0.0.1:notaport/db",
        );
        hidden(
            "postgres://admin:S3cretPW@[::1/db",
            "postgres://admin:***@[::1/db",
        );
        // An `@` and a `/` in the password, not percent-encoded.
        hidden(
            "postgres://admin:S3cretPW/x@y@host/db",
            "postgres://admin:***@host/db",
        );
    }

    #[test]
    fn secret_query_parameters() {
        hidden(
            "postgres://127.0.0.1:5999/db?user=admin&password=S3cretPW",
            "postgres://127.0.0.1:5999/db?user=admin&password=***",
        );
        hidden(
            "postgres://h/db?sslmode=require&PassWord=S3cretPW&application_name=x",
            "postgres://h/db?sslmode=require&PassWord=***&application_name=x",
        );
        for name in ["api_key", "AUTH_TOKEN", "client_secret", "db_passwd", "pwd"] {
            hidden(
                &format!("postgres://h/db?{name}=S3cretPW"),
                &format!("postgres://h/db?{name}=***"),
            );
        }
        // Not secret: kept.
        assert_eq!(
            redact_url("postgres://h/db?user=admin&sslmode=require"),
            "postgres://h/db?user=admin&sslmode=require"
        );
    }

    #[test]
    fn percent_encoded_passwords_are_hidden_in_both_forms() {
        let secrets = Secrets::of_url("postgres://admin:S3cret%40PW%2B1@h/db");
        assert_eq!(secrets.url(), "postgres://admin:***@h/db");
        assert_eq!(
            secrets.scrub("a: S3cret@PW+1, b: S3cret%40PW%2B1"),
            "a: ***, b: ***"
        );
        let secrets = Secrets::of_url("postgres://h/db?password=S3cret+PW%21");
        assert_eq!(secrets.scrub("S3cret PW! S3cret+PW!"), "*** ***");
    }

    #[test]
    fn nothing_to_hide() {
        for url in [
            "sqlite::memory:",
            "sqlite:///tmp/a.db?mode=rwc",
            "postgres://admin@127.0.0.1/db",
            "postgres://127.0.0.1/db",
            "not a url",
        ] {
            let secrets = Secrets::of_url(url);
            assert!(secrets.is_empty(), "{url}");
            assert_eq!(secrets.url(), url);
            assert_eq!(secrets.scrub(url), url);
        }
    }

    #[test]
    fn an_empty_password_masks_nothing() {
        let secrets = Secrets::of_url("postgres://admin:@h/db");
        assert_eq!(secrets.scrub("admin@h"), "admin@h");
    }
}
