//! The OData query options the audit-log endpoints accept: `$filter` (parsed into an expression
//! over the documented properties), `$top`, `$orderby` and `$skiptoken`.
//!
//! Unsupported properties and operators are refused the way Graph refuses them (400 with
//! `Request_BadRequest` / `BadRequest` "Invalid filter clause"), so a client that works here uses
//! only what Graph documents. `lt`/`gt` on the date properties are not documented (users report
//! that Graph rejects them); the simulator rejects them too unless `allow_lt_gt` is set, in which
//! case they mean strictly less / greater.

use crate::records::{Field, FieldType, FieldValue, Filterable, SignInKind};
use crate::time::{Ticks, parse_odata_datetime};

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Ge,
    Le,
    Gt,
    Lt,
}

/// A literal value in a filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Text(String),
    Int(i64),
    Bool(bool),
    Time(Ticks),
    Null,
}

/// `targetResources/any(t: t/<prop> eq '…')` properties.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetProp {
    Id,
    DisplayName,
}

/// A parsed `$filter` expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    Compare {
        field: Field,
        op: Op,
        value: Literal,
    },
    StartsWith {
        field: Field,
        prefix: String,
    },
    /// `signInEventTypes/any(t: t eq 'x')` (or `ne`).
    EventType {
        op: Op,
        kind: String,
    },
    TargetAny {
        prop: TargetProp,
        value: String,
    },
}

/// Why a query was refused; rendered as a Graph 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// Graph's generic parse failure.
    #[error("Invalid filter clause")]
    InvalidFilter(String),
    /// A property or operator the endpoint does not support.
    #[error("Unsupported property or property value or combination of property and operation occured")]
    Unsupported(String),
    #[error("Invalid page size specified: '{0}'. Must be between 1 and 1000 inclusive.")]
    PageSize(String),
    #[error("Query option '{0}' is not allowed. Make sure that the query option is supported by this resource.")]
    UnknownOption(String),
    #[error("Invalid $orderby: {0}")]
    OrderBy(String),
}

impl QueryError {
    /// The Graph error code for the body.
    pub fn code(&self) -> &'static str {
        match self {
            QueryError::InvalidFilter(_) => "BadRequest",
            QueryError::Unsupported(_) | QueryError::PageSize(_) => "Request_BadRequest",
            QueryError::UnknownOption(_) | QueryError::OrderBy(_) => "BadRequest",
        }
    }

    /// The simulator's own explanation (sent in a header, never in Graph's body).
    pub fn detail(&self) -> String {
        match self {
            QueryError::InvalidFilter(d) | QueryError::Unsupported(d) | QueryError::OrderBy(d) => d.clone(),
            QueryError::PageSize(v) => format!("$top={v} is outside 1..=1000"),
            QueryError::UnknownOption(o) => format!("query option {o} is not supported by this endpoint"),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    /// A bare literal starting with a digit or sign: number or date-time.
    Bare(String),
    LParen,
    RParen,
    Comma,
    Colon,
}

fn tokenize(text: &str) -> Result<Vec<Tok>, QueryError> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' | '\n' | '\r' => i += 1,
            '(' => {
                out.push(Tok::LParen);
                i += 1
            }
            ')' => {
                out.push(Tok::RParen);
                i += 1
            }
            ',' => {
                out.push(Tok::Comma);
                i += 1
            }
            ':' => {
                out.push(Tok::Colon);
                i += 1
            }
            '\'' => {
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(QueryError::InvalidFilter("unterminated string literal".into())),
                        Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                            s.push('\'');
                            i += 2;
                        }
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(&ch) => {
                            s.push(ch);
                            i += 1;
                        }
                    }
                }
                out.push(Tok::Str(s));
            }
            c if c.is_ascii_digit() || c == '-' || c == '+' => {
                let start = i;
                while i < chars.len() && !matches!(chars[i], ' ' | '\t' | ')' | '(' | ',') {
                    i += 1;
                }
                out.push(Tok::Bare(chars[start..i].iter().collect()));
            }
            c if c.is_alphabetic() || c == '_' || c == '$' => {
                let start = i;
                while i < chars.len() && (chars[i].is_alphanumeric() || matches!(chars[i], '_' | '/' | '.')) {
                    i += 1;
                }
                out.push(Tok::Ident(chars[start..i].iter().collect()));
            }
            other => return Err(QueryError::InvalidFilter(format!("unexpected character '{other}'"))),
        }
    }
    Ok(out)
}

/// Parser settings that depend on the endpoint.
#[derive(Debug, Clone, Copy)]
pub struct FilterContext {
    /// Sign-ins (`true`) or directory audits.
    pub signins: bool,
    /// beta accepts `signInEventTypes`; v1.0 does not have the property.
    pub beta: bool,
    pub allow_lt_gt: bool,
}

struct Parser<'c> {
    toks: Vec<Tok>,
    pos: usize,
    ctx: &'c FilterContext,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn keyword(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(w)) if w.eq_ignore_ascii_case(word))
    }

    fn expect(&mut self, tok: Tok, what: &str) -> Result<(), QueryError> {
        match self.next() {
            Some(t) if t == tok => Ok(()),
            other => Err(QueryError::InvalidFilter(format!("expected {what}, found {other:?}"))),
        }
    }

    fn or_expr(&mut self) -> Result<Expr, QueryError> {
        let mut parts = vec![self.and_expr()?];
        while self.keyword("or") {
            self.pos += 1;
            parts.push(self.and_expr()?);
        }
        Ok(if parts.len() == 1 { parts.remove(0) } else { Expr::Or(parts) })
    }

    fn and_expr(&mut self) -> Result<Expr, QueryError> {
        let mut parts = vec![self.unary()?];
        while self.keyword("and") {
            self.pos += 1;
            parts.push(self.unary()?);
        }
        Ok(if parts.len() == 1 { parts.remove(0) } else { Expr::And(parts) })
    }

    fn unary(&mut self) -> Result<Expr, QueryError> {
        if self.keyword("not") {
            self.pos += 1;
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, QueryError> {
        match self.next() {
            Some(Tok::LParen) => {
                let e = self.or_expr()?;
                self.expect(Tok::RParen, "')'")?;
                Ok(e)
            }
            Some(Tok::Ident(name)) => {
                let lower = name.to_ascii_lowercase();
                if lower == "startswith" {
                    return self.starts_with();
                }
                if let Some(collection) = lower.strip_suffix("/any") {
                    return self.any(collection);
                }
                let op = self.operator()?;
                let literal = self.literal()?;
                self.comparison(&name, op, literal)
            }
            other => Err(QueryError::InvalidFilter(format!("unexpected {other:?}"))),
        }
    }

    fn operator(&mut self) -> Result<Op, QueryError> {
        match self.next() {
            Some(Tok::Ident(w)) => match w.to_ascii_lowercase().as_str() {
                "eq" => Ok(Op::Eq),
                "ne" => Ok(Op::Ne),
                "ge" => Ok(Op::Ge),
                "le" => Ok(Op::Le),
                "gt" => Ok(Op::Gt),
                "lt" => Ok(Op::Lt),
                other => Err(QueryError::InvalidFilter(format!("unknown operator '{other}'"))),
            },
            other => Err(QueryError::InvalidFilter(format!("expected an operator, found {other:?}"))),
        }
    }

    fn literal(&mut self) -> Result<Literal, QueryError> {
        match self.next() {
            Some(Tok::Str(s)) => Ok(Literal::Text(s)),
            Some(Tok::Bare(b)) => {
                if let Ok(n) = b.parse::<i64>() {
                    Ok(Literal::Int(n))
                } else if let Some(t) = parse_odata_datetime(&b) {
                    Ok(Literal::Time(t))
                } else {
                    Err(QueryError::InvalidFilter(format!("'{b}' is neither a number nor a date-time")))
                }
            }
            Some(Tok::Ident(w)) if w.eq_ignore_ascii_case("true") => Ok(Literal::Bool(true)),
            Some(Tok::Ident(w)) if w.eq_ignore_ascii_case("false") => Ok(Literal::Bool(false)),
            Some(Tok::Ident(w)) if w.eq_ignore_ascii_case("null") => Ok(Literal::Null),
            other => Err(QueryError::InvalidFilter(format!("expected a literal, found {other:?}"))),
        }
    }

    fn comparison(&self, name: &str, op: Op, literal: Literal) -> Result<Expr, QueryError> {
        let field = Field::parse(name, self.ctx.signins)
            .ok_or_else(|| QueryError::Unsupported(format!("property '{name}' cannot be filtered on here")))?;
        match field.field_type() {
            FieldType::DateTime => {
                match op {
                    Op::Eq | Op::Ge | Op::Le => {}
                    Op::Gt | Op::Lt if self.ctx.allow_lt_gt => {}
                    Op::Gt | Op::Lt => {
                        return Err(QueryError::Unsupported(format!(
                            "'{name}' supports eq, ge and le only (lt/gt are undocumented; start the simulator with --allow-lt-gt to accept them)"
                        )));
                    }
                    Op::Ne => return Err(QueryError::Unsupported(format!("'{name}' does not support ne"))),
                }
                let value = match literal {
                    Literal::Time(t) => Literal::Time(t),
                    // Graph wants an unquoted date-time; a quoted one is "Invalid filter clause".
                    Literal::Text(s) => {
                        return Err(QueryError::InvalidFilter(format!("date-time literal '{s}' must not be quoted")));
                    }
                    other => {
                        return Err(QueryError::InvalidFilter(format!("'{name}' needs a date-time, not {other:?}")));
                    }
                };
                Ok(Expr::Compare { field, op, value })
            }
            FieldType::Int => {
                if op != Op::Eq {
                    return Err(QueryError::Unsupported(format!("'{name}' supports eq only")));
                }
                match literal {
                    Literal::Int(_) => Ok(Expr::Compare { field, op, value: literal }),
                    other => Err(QueryError::InvalidFilter(format!("'{name}' needs a number, not {other:?}"))),
                }
            }
            FieldType::Bool => {
                if op != Op::Eq {
                    return Err(QueryError::Unsupported(format!("'{name}' supports eq only")));
                }
                match literal {
                    Literal::Bool(_) => Ok(Expr::Compare { field, op, value: literal }),
                    other => Err(QueryError::InvalidFilter(format!("'{name}' needs true or false, not {other:?}"))),
                }
            }
            FieldType::Text => {
                if op != Op::Eq {
                    return Err(QueryError::Unsupported(format!(
                        "'{name}' supports eq (and startswith where documented) only"
                    )));
                }
                match literal {
                    Literal::Text(_) | Literal::Null => Ok(Expr::Compare { field, op, value: literal }),
                    other => Err(QueryError::InvalidFilter(format!("'{name}' needs a quoted string, not {other:?}"))),
                }
            }
        }
    }

    fn starts_with(&mut self) -> Result<Expr, QueryError> {
        self.expect(Tok::LParen, "'(' after startswith")?;
        let name = match self.next() {
            Some(Tok::Ident(n)) => n,
            other => return Err(QueryError::InvalidFilter(format!("expected a property, found {other:?}"))),
        };
        self.expect(Tok::Comma, "','")?;
        let prefix = match self.next() {
            Some(Tok::Str(s)) => s,
            other => return Err(QueryError::InvalidFilter(format!("expected a quoted prefix, found {other:?}"))),
        };
        self.expect(Tok::RParen, "')'")?;
        let field = Field::parse(&name, self.ctx.signins)
            .filter(|f| f.supports_startswith())
            .ok_or_else(|| QueryError::Unsupported(format!("startswith is not supported on '{name}'")))?;
        Ok(Expr::StartsWith { field, prefix })
    }

    fn any(&mut self, collection: &str) -> Result<Expr, QueryError> {
        self.expect(Tok::LParen, "'(' after any")?;
        let var = match self.next() {
            Some(Tok::Ident(v)) => v,
            other => return Err(QueryError::InvalidFilter(format!("expected a lambda variable, found {other:?}"))),
        };
        self.expect(Tok::Colon, "':'")?;
        let mut alternatives = Vec::new();
        loop {
            let path = match self.next() {
                Some(Tok::Ident(p)) => p,
                other => return Err(QueryError::InvalidFilter(format!("expected '{var}', found {other:?}"))),
            };
            let op = self.operator()?;
            let value = match self.literal()? {
                Literal::Text(s) => s,
                other => return Err(QueryError::InvalidFilter(format!("expected a quoted value, found {other:?}"))),
            };
            let sub = path.strip_prefix(&var).unwrap_or("!");
            let expr = match collection {
                "signineventtypes" if self.ctx.signins && self.ctx.beta && sub.is_empty() => {
                    if !matches!(op, Op::Eq | Op::Ne) {
                        return Err(QueryError::Unsupported("signInEventTypes supports eq and ne".into()));
                    }
                    if SignInKind::parse(&value).is_none() {
                        return Err(QueryError::Unsupported(format!("'{value}' is not a sign-in event type")));
                    }
                    Expr::EventType { op, kind: value }
                }
                "targetresources" if !self.ctx.signins && op == Op::Eq => {
                    let prop = match sub.to_ascii_lowercase().as_str() {
                        "/id" => TargetProp::Id,
                        "/displayname" => TargetProp::DisplayName,
                        _ => {
                            return Err(QueryError::Unsupported(format!(
                                "targetResources/any supports t/id and t/displayName, not '{path}'"
                            )));
                        }
                    };
                    Expr::TargetAny { prop, value }
                }
                other => {
                    return Err(QueryError::Unsupported(format!("'{other}/any' is not supported on this endpoint")));
                }
            };
            alternatives.push(expr);
            if self.keyword("or") {
                self.pos += 1;
                continue;
            }
            break;
        }
        self.expect(Tok::RParen, "')'")?;
        Ok(if alternatives.len() == 1 { alternatives.remove(0) } else { Expr::Or(alternatives) })
    }
}

/// Parses a `$filter` value.
pub fn parse_filter(text: &str, ctx: &FilterContext) -> Result<Expr, QueryError> {
    let toks = tokenize(text)?;
    if toks.is_empty() {
        return Err(QueryError::InvalidFilter("empty $filter".into()));
    }
    let mut p = Parser { toks, pos: 0, ctx };
    let e = p.or_expr()?;
    if p.pos != p.toks.len() {
        return Err(QueryError::InvalidFilter(format!("unexpected {:?}", p.toks[p.pos])));
    }
    Ok(e)
}

fn text_eq(a: &str, b: &str) -> bool {
    // Graph compares these case-insensitively (UPNs, display names, ids).
    a.eq_ignore_ascii_case(b)
}

impl Expr {
    /// Evaluates the expression on a record.
    pub fn matches<R: Filterable + ?Sized>(&self, r: &R) -> bool {
        match self {
            Expr::And(v) => v.iter().all(|e| e.matches(r)),
            Expr::Or(v) => v.iter().any(|e| e.matches(r)),
            Expr::Not(e) => !e.matches(r),
            Expr::Compare { field, op, value } => {
                let actual = r.field(*field);
                match (&actual, value) {
                    (FieldValue::Time(t), Literal::Time(v)) => match op {
                        Op::Eq => t == v,
                        Op::Ge => t >= v,
                        Op::Le => t <= v,
                        Op::Gt => t > v,
                        Op::Lt => t < v,
                        Op::Ne => t != v,
                    },
                    (FieldValue::Text(a), Literal::Text(b)) => text_eq(a, b),
                    (FieldValue::Null, Literal::Null) => true,
                    (FieldValue::Int(a), Literal::Int(b)) => a == b,
                    (FieldValue::Bool(a), Literal::Bool(b)) => a == b,
                    _ => false,
                }
            }
            Expr::StartsWith { field, prefix } => match r.field(*field) {
                FieldValue::Text(a) => {
                    a.len() >= prefix.len()
                        && a.is_char_boundary(prefix.len())
                        && a[..prefix.len()].eq_ignore_ascii_case(prefix)
                }
                _ => false,
            },
            Expr::EventType { op, kind } => {
                let types = r.event_types();
                match op {
                    Op::Ne => types.iter().any(|t| !t.eq_ignore_ascii_case(kind)),
                    _ => types.iter().any(|t| t.eq_ignore_ascii_case(kind)),
                }
            }
            Expr::TargetAny { prop, value } => r.targets().iter().any(|(id, name)| {
                let v = match prop {
                    TargetProp::Id => id,
                    TargetProp::DisplayName => name,
                };
                v.is_some_and(|v| text_eq(v, value))
            }),
        }
    }

    /// The time bounds this filter implies for `field` (inclusive ticks), from top-level `and`
    /// terms only; used to skip slices that cannot match.
    pub fn time_bounds(&self, field: Field) -> (Option<Ticks>, Option<Ticks>) {
        let mut lo: Option<Ticks> = None;
        let mut hi: Option<Ticks> = None;
        let mut visit = |e: &Expr| {
            if let Expr::Compare { field: f, op, value: Literal::Time(t) } = e
                && *f == field
            {
                let (l, h) = match op {
                    Op::Ge => (Some(*t), None),
                    Op::Gt => (Some(t + 1), None),
                    Op::Le => (None, Some(*t)),
                    Op::Lt => (None, Some(t - 1)),
                    Op::Eq => (Some(*t), Some(*t)),
                    Op::Ne => (None, None),
                };
                if let Some(l) = l {
                    lo = Some(lo.map_or(l, |x: Ticks| x.max(l)));
                }
                if let Some(h) = h {
                    hi = Some(hi.map_or(h, |x: Ticks| x.min(h)));
                }
            }
        };
        match self {
            Expr::And(v) => v.iter().for_each(&mut visit),
            other => visit(other),
        }
        (lo, hi)
    }

    /// Which sign-in kinds the filter can match (for choosing logs to scan).
    pub fn sign_in_kinds(&self) -> Option<Vec<SignInKind>> {
        fn kinds(e: &Expr) -> Option<Vec<SignInKind>> {
            match e {
                Expr::EventType { op, kind } => {
                    let k = SignInKind::parse(kind)?;
                    Some(match op {
                        Op::Ne => SignInKind::ALL.into_iter().filter(|x| *x != k).collect(),
                        _ => vec![k],
                    })
                }
                Expr::Or(v) => {
                    let mut all = Vec::new();
                    for e in v {
                        all.extend(kinds(e)?);
                    }
                    all.sort();
                    all.dedup();
                    Some(all)
                }
                Expr::And(v) => {
                    let mut result: Option<Vec<SignInKind>> = None;
                    for e in v {
                        if let Some(k) = kinds(e) {
                            result = Some(match result {
                                None => k,
                                Some(r) => r.into_iter().filter(|x| k.contains(x)).collect(),
                            });
                        }
                    }
                    result
                }
                _ => None,
            }
        }
        kinds(self)
    }
}

/// The sort order of a list request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    NewestFirst,
    OldestFirst,
}

/// Parses `$orderby` (only the date property is sortable, as in Graph).
pub fn parse_orderby(text: &str, signins: bool) -> Result<Order, QueryError> {
    let mut parts = text.split_whitespace();
    let prop = parts.next().unwrap_or("");
    let dir = parts.next().unwrap_or("asc");
    let expected = if signins { "createddatetime" } else { "activitydatetime" };
    if prop.to_ascii_lowercase() != expected || parts.next().is_some() {
        return Err(QueryError::OrderBy(format!("only '{expected} asc|desc' is supported, not '{text}'")));
    }
    match dir.to_ascii_lowercase().as_str() {
        "asc" => Ok(Order::OldestFirst),
        "desc" => Ok(Order::NewestFirst),
        other => Err(QueryError::OrderBy(format!("direction must be asc or desc, not '{other}'"))),
    }
}

/// Parses `$top`.
pub fn parse_top(text: &str) -> Result<usize, QueryError> {
    match text.trim().parse::<i64>() {
        Ok(n) if (1..=1000).contains(&n) => Ok(n as usize),
        _ => Err(QueryError::PageSize(text.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(beta: bool) -> FilterContext {
        FilterContext { signins: true, beta, allow_lt_gt: false }
    }

    #[test]
    fn parses_the_documented_forms() {
        let e = parse_filter(
            "createdDateTime ge 2024-01-01T00:00:00Z and createdDateTime le 2024-01-02T00:00:00.123Z and userPrincipalName eq 'a@b.com'",
            &ctx(false),
        )
        .unwrap();
        let (lo, hi) = e.time_bounds(Field::CreatedDateTime);
        assert!(lo.is_some() && hi.is_some() && lo < hi);
        parse_filter("status/errorCode eq 50126", &ctx(false)).unwrap();
        parse_filter("startsWith(appDisplayName,'Graph')", &ctx(false)).unwrap();
        parse_filter("location/countryOrRegion eq 'US' and isInteractive eq true", &ctx(false)).unwrap();
        let e = parse_filter("signInEventTypes/any(t: t eq 'nonInteractiveUser')", &ctx(true)).unwrap();
        assert_eq!(e.sign_in_kinds(), Some(vec![SignInKind::NonInteractiveUser]));
        let e = parse_filter("signInEventTypes/any(t: t ne 'interactiveUser')", &ctx(true)).unwrap();
        assert_eq!(e.sign_in_kinds().unwrap().len(), 3);
        let e = parse_filter(
            "(signInEventTypes/any(t: t eq 'servicePrincipal') or signInEventTypes/any(t: t eq 'managedIdentity')) and createdDateTime ge 2024-01-01T00:00:00Z",
            &ctx(true),
        )
        .unwrap();
        assert_eq!(e.sign_in_kinds().unwrap().len(), 2);
        let e =
            parse_filter("signInEventTypes/any(t: t eq 'interactiveUser' or t eq 'nonInteractiveUser')", &ctx(true))
                .unwrap();
        assert_eq!(e.sign_in_kinds().unwrap().len(), 2);
        let audit = FilterContext { signins: false, beta: false, allow_lt_gt: false };
        parse_filter(
            "activityDateTime ge 2024-01-01T00:00:00Z and targetResources/any(t: t/displayName eq 'x')",
            &audit,
        )
        .unwrap();
        parse_filter("initiatedBy/user/id eq 'abc' and category eq 'RoleManagement'", &audit).unwrap();
    }

    #[test]
    fn refuses_what_graph_refuses() {
        assert!(matches!(
            parse_filter("createdDateTime lt 2024-01-01T00:00:00Z", &ctx(false)),
            Err(QueryError::Unsupported(_))
        ));
        let lax = FilterContext { signins: true, beta: false, allow_lt_gt: true };
        assert!(parse_filter("createdDateTime lt 2024-01-01T00:00:00Z", &lax).is_ok());
        assert!(matches!(parse_filter("IsRisky eq true", &ctx(false)), Err(QueryError::Unsupported(_))));
        assert!(matches!(
            parse_filter("signInEventTypes/any(t: t eq 'nonInteractiveUser')", &ctx(false)),
            Err(QueryError::Unsupported(_))
        ));
        assert!(matches!(
            parse_filter("createdDateTime ge '2024-01-01'", &ctx(false)),
            Err(QueryError::InvalidFilter(_))
        ));
        assert!(matches!(parse_filter("createdDateTime ge", &ctx(false)), Err(QueryError::InvalidFilter(_))));
        assert!(matches!(parse_filter("userPrincipalName eq 'x", &ctx(false)), Err(QueryError::InvalidFilter(_))));
        assert!(matches!(parse_filter("userPrincipalName ne 'x'", &ctx(false)), Err(QueryError::Unsupported(_))));
        assert!(matches!(
            parse_filter("activityDateTime ge 2024-01-01T00:00:00Z", &ctx(false)),
            Err(QueryError::Unsupported(_))
        ));
        assert!(parse_top("1000").is_ok());
        assert!(parse_top("1001").is_err());
        assert!(parse_top("0").is_err());
        assert!(parse_top("x").is_err());
        assert_eq!(parse_orderby("createdDateTime asc", true), Ok(Order::OldestFirst));
        assert!(parse_orderby("userPrincipalName", true).is_err());
    }

    #[test]
    fn arbitrary_text_never_panics() {
        for text in ["((((", "startswith(", "a/any(", "'", "x eq 'a''b'", "not not (a eq 'b')", "😀 eq 1", "-", "2024-"]
        {
            let _ = parse_filter(text, &ctx(true));
        }
    }

    #[test]
    fn evaluation_on_json() {
        let record = serde_json::json!({
            "userPrincipalName": "Adele.Vance@contoso.com",
            "status": {"errorCode": 50126},
            "createdDateTime": "2024-01-01T10:00:00Z",
            "signInEventTypes": ["nonInteractiveUser"]
        });
        let e =
            parse_filter("userPrincipalName eq 'adele.vance@contoso.com' and status/errorCode eq 50126", &ctx(true))
                .unwrap();
        assert!(e.matches(&record));
        let e = parse_filter("startswith(userPrincipalName,'adele')", &ctx(true)).unwrap();
        assert!(e.matches(&record));
        let e = parse_filter("signInEventTypes/any(t: t eq 'interactiveUser')", &ctx(true)).unwrap();
        assert!(!e.matches(&record));
        let e = parse_filter("createdDateTime ge 2024-01-01T10:00:00Z", &ctx(true)).unwrap();
        assert!(e.matches(&record));
    }
}
