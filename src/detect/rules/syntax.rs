//! The `when` language's surface: tokens and the parse tree, exactly the grammar of
//! `rules/README.md`. Names are not resolved and types are not checked here; that is
//! [`super::expr`]'s job, so this module only knows about characters and precedence.

use super::error::ExprError;

/// Deeper trees than this are refused: a rule that needs it is unreadable anyway, and the
/// bound keeps the recursive parser, compiler and evaluator far from the stack's end.
pub(crate) const MAX_DEPTH: u32 = 128;

/// A token and where it starts (byte offset into the `when` source).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Token {
    pub(crate) kind: Tok,
    pub(crate) start: usize,
    pub(crate) end: usize,
}

/// The token kinds.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Tok {
    /// `a`, `geo.country`, `list.vpn_asns`: dotted names are one token (no spaces inside).
    Name(String),
    Num(f64),
    Str(String),
    True,
    False,
    In,
    Or,
    And,
    Not,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Plus,
    Minus,
    Star,
    Slash,
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    End,
}

impl Tok {
    /// How the token reads in an error message.
    fn describe(&self) -> String {
        match self {
            Tok::Name(n) => format!("`{n}`"),
            Tok::Num(_) => "a number".into(),
            Tok::Str(_) => "a string".into(),
            Tok::True => "`true`".into(),
            Tok::False => "`false`".into(),
            Tok::In => "`in`".into(),
            Tok::Or => "`||`".into(),
            Tok::And => "`&&`".into(),
            Tok::Not => "`!`".into(),
            Tok::Eq => "`==`".into(),
            Tok::Ne => "`!=`".into(),
            Tok::Lt => "`<`".into(),
            Tok::Le => "`<=`".into(),
            Tok::Gt => "`>`".into(),
            Tok::Ge => "`>=`".into(),
            Tok::Plus => "`+`".into(),
            Tok::Minus => "`-`".into(),
            Tok::Star => "`*`".into(),
            Tok::Slash => "`/`".into(),
            Tok::LParen => "`(`".into(),
            Tok::RParen => "`)`".into(),
            Tok::LBracket => "`[`".into(),
            Tok::RBracket => "`]`".into(),
            Tok::Comma => "`,`".into(),
            Tok::End => "the end of the expression".into(),
        }
    }
}

fn syntax(offset: usize, message: impl Into<String>) -> ExprError {
    ExprError::new(offset, message)
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Splits `src` into tokens; the last one is always [`Tok::End`].
pub(crate) fn lex(src: &str) -> Result<Vec<Token>, ExprError> {
    let bytes = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        // Only ASCII is meaningful outside strings; anything else is reported as found.
        let c = match src[i..].chars().next() {
            Some(c) => c,
            None => break,
        };
        if c.is_whitespace() {
            i += c.len_utf8();
            continue;
        }
        let two = |a: u8, b: u8| bytes[i] == a && bytes.get(i + 1) == Some(&b);
        let (kind, len) = if two(b'|', b'|') {
            (Tok::Or, 2)
        } else if two(b'&', b'&') {
            (Tok::And, 2)
        } else if two(b'=', b'=') {
            (Tok::Eq, 2)
        } else if two(b'!', b'=') {
            (Tok::Ne, 2)
        } else if two(b'<', b'=') {
            (Tok::Le, 2)
        } else if two(b'>', b'=') {
            (Tok::Ge, 2)
        } else {
            match c {
                '!' => (Tok::Not, 1),
                '<' => (Tok::Lt, 1),
                '>' => (Tok::Gt, 1),
                '+' => (Tok::Plus, 1),
                '-' => (Tok::Minus, 1),
                '*' => (Tok::Star, 1),
                '/' => (Tok::Slash, 1),
                '(' => (Tok::LParen, 1),
                ')' => (Tok::RParen, 1),
                '[' => (Tok::LBracket, 1),
                ']' => (Tok::RBracket, 1),
                ',' => (Tok::Comma, 1),
                '=' => return Err(syntax(start, "`=` is not an operator; use `==` to compare")),
                '&' => return Err(syntax(start, "`&` is not an operator; use `&&`")),
                '|' => return Err(syntax(start, "`|` is not an operator; use `||`")),
                '"' => {
                    let (s, len) = lex_string(src, start)?;
                    (Tok::Str(s), len)
                }
                '0'..='9' => lex_number(src, start)?,
                c if is_name_start(c) => lex_name(src, start)?,
                c => return Err(syntax(start, format!("unexpected character `{c}`"))),
            }
        };
        i += len;
        out.push(Token {
            kind,
            start,
            end: i,
        });
    }
    out.push(Token {
        kind: Tok::End,
        start: src.len(),
        end: src.len(),
    });
    Ok(out)
}

fn lex_string(src: &str, start: usize) -> Result<(String, usize), ExprError> {
    let mut s = String::new();
    let mut chars = src[start + 1..].char_indices();
    while let Some((j, c)) = chars.next() {
        match c {
            '"' => return Ok((s, j + 2)),
            '\\' => match chars.next() {
                Some((_, '"')) => s.push('"'),
                Some((_, '\\')) => s.push('\\'),
                Some((k, other)) => {
                    return Err(syntax(
                        start + 1 + k,
                        format!("unknown escape `\\{other}` in string (only `\\\"` and `\\\\`)"),
                    ))
                }
                None => break,
            },
            c => s.push(c),
        }
    }
    Err(syntax(start, "string is not closed (missing `\"`)"))
}

fn lex_number(src: &str, start: usize) -> Result<(Tok, usize), ExprError> {
    let b = src.as_bytes();
    let digits = |mut i: usize| {
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        i
    };
    let mut i = digits(start);
    if i < b.len() && b[i] == b'.' {
        let after = digits(i + 1);
        if after == i + 1 {
            return Err(syntax(i, "a digit must follow the decimal point"));
        }
        i = after;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        let mut j = i + 1;
        if j < b.len() && (b[j] == b'+' || b[j] == b'-') {
            j += 1;
        }
        let after = digits(j);
        if after == j {
            return Err(syntax(i, "an exponent needs digits (e.g. `1e3`)"));
        }
        i = after;
    }
    if i < b.len() && (is_name_char(b[i] as char) || b[i] == b'.') {
        return Err(syntax(start, "malformed number"));
    }
    let text = &src[start..i];
    let n: f64 = text
        .parse()
        .map_err(|_| syntax(start, format!("malformed number `{text}`")))?;
    if !n.is_finite() {
        return Err(syntax(start, format!("number `{text}` is too large")));
    }
    Ok((Tok::Num(n), i - start))
}

fn lex_name(src: &str, start: usize) -> Result<(Tok, usize), ExprError> {
    let b = src.as_bytes();
    let mut i = start;
    loop {
        while i < b.len() && is_name_char(b[i] as char) {
            i += 1;
        }
        if i < b.len() && b[i] == b'.' {
            if i + 1 < b.len() && is_name_start(b[i + 1] as char) {
                i += 1;
                continue;
            }
            return Err(syntax(i, "a name must follow `.`"));
        }
        break;
    }
    let text = &src[start..i];
    let kind = match text {
        "true" => Tok::True,
        "false" => Tok::False,
        "in" => Tok::In,
        _ => Tok::Name(text.to_owned()),
    };
    Ok((kind, i - start))
}

/// A parse-tree node with its source range.
#[derive(Clone, Debug)]
pub(crate) struct Node {
    pub(crate) kind: NodeKind,
    pub(crate) start: usize,
    pub(crate) end: usize,
    depth: u32,
}

/// Binary operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BinOp {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    Mul,
    Div,
}

impl BinOp {
    pub(crate) fn symbol(self) -> &'static str {
        match self {
            BinOp::Or => "||",
            BinOp::And => "&&",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
        }
    }
}

/// A literal inside `in [...]` or as an operand.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Literal {
    Bool(bool),
    Num(f64),
    Str(String),
}

/// What a node is.
#[derive(Clone, Debug)]
pub(crate) enum NodeKind {
    Lit(Literal),
    /// A feature name, still unresolved.
    Feature(String),
    Not(Box<Node>),
    Neg(Box<Node>),
    Bin(BinOp, Box<Node>, Box<Node>),
    /// `x in [a, b]`, each literal with its start offset.
    InLits(Box<Node>, Vec<(Literal, usize)>),
    /// `x in list.NAME`: the name without `list.`, and its start offset.
    InList(Box<Node>, String, usize),
}

impl Node {
    fn new(kind: NodeKind, start: usize, end: usize) -> Result<Node, ExprError> {
        let depth = match &kind {
            NodeKind::Lit(_) | NodeKind::Feature(_) => 1,
            NodeKind::Not(a)
            | NodeKind::Neg(a)
            | NodeKind::InLits(a, _)
            | NodeKind::InList(a, ..) => a.depth + 1,
            NodeKind::Bin(_, a, b) => a.depth.max(b.depth) + 1,
        };
        if depth > MAX_DEPTH {
            return Err(syntax(
                start,
                format!("expression is nested too deeply (more than {MAX_DEPTH} levels)"),
            ));
        }
        Ok(Node {
            kind,
            start,
            end,
            depth,
        })
    }
}

/// Parses a whole `when` expression. Errors read "syntax error at column N: ..." (with the
/// line too when the expression spans several).
pub(crate) fn parse(src: &str) -> Result<Node, ExprError> {
    parse_tokens(src).map_err(|e| {
        let (line, column) = e.line_column(src);
        let message = if src.contains('\n') {
            format!(
                "syntax error at line {line}, column {column} of the expression: {}",
                e.message
            )
        } else {
            format!("syntax error at column {column}: {}", e.message)
        };
        ExprError { message, ..e }
    })
}

fn parse_tokens(src: &str) -> Result<Node, ExprError> {
    let tokens = lex(src)?;
    let mut p = Parser {
        tokens,
        pos: 0,
        nesting: 0,
    };
    if p.peek() == &Tok::End {
        return Err(syntax(0, "the expression is empty"));
    }
    let node = p.or()?;
    match p.peek() {
        Tok::End => Ok(node),
        Tok::RParen => Err(syntax(p.start(), "`)` without a matching `(`")),
        other => {
            // Words from other rule languages: say what this one spells them as.
            let hint = match (other, p.pos.checked_sub(1).map(|i| &p.tokens[i].kind)) {
                (Tok::Name(w), _) if w == "and" => " (write `&&` for and)",
                (Tok::Name(w), _) if w == "or" => " (write `||` for or)",
                (_, Some(Tok::Name(w))) if w == "not" => " (write `!` for not)",
                _ => "",
            };
            Err(syntax(
                p.start(),
                format!(
                    "expected an operator or the end, found {}{hint}",
                    other.describe()
                ),
            ))
        }
    }
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    /// Prefix operators and parentheses open so far: bounds the parser's own recursion.
    nesting: u32,
}

impl Parser {
    fn peek(&self) -> &Tok {
        // `lex` always ends with `End` and `bump` never moves past it.
        &self.tokens[self.pos].kind
    }

    fn start(&self) -> usize {
        self.tokens[self.pos].start
    }

    fn prev_end(&self) -> usize {
        if self.pos == 0 {
            0
        } else {
            self.tokens[self.pos - 1].end
        }
    }

    fn bump(&mut self) -> Token {
        let t = self.tokens[self.pos].clone();
        if self.pos + 1 < self.tokens.len() {
            self.pos += 1;
        }
        t
    }

    fn enter(&mut self) -> Result<(), ExprError> {
        self.nesting += 1;
        if self.nesting > MAX_DEPTH {
            return Err(syntax(
                self.start(),
                format!("expression is nested too deeply (more than {MAX_DEPTH} levels)"),
            ));
        }
        Ok(())
    }

    fn binary(&mut self, op: BinOp, lhs: Node, rhs: Node) -> Result<Node, ExprError> {
        let (start, end) = (lhs.start, rhs.end);
        Node::new(NodeKind::Bin(op, Box::new(lhs), Box::new(rhs)), start, end)
    }

    fn or(&mut self) -> Result<Node, ExprError> {
        let mut lhs = self.and()?;
        while self.peek() == &Tok::Or {
            self.bump();
            let rhs = self.and()?;
            lhs = self.binary(BinOp::Or, lhs, rhs)?;
        }
        Ok(lhs)
    }

    fn and(&mut self) -> Result<Node, ExprError> {
        let mut lhs = self.not()?;
        while self.peek() == &Tok::And {
            self.bump();
            let rhs = self.not()?;
            lhs = self.binary(BinOp::And, lhs, rhs)?;
        }
        Ok(lhs)
    }

    fn not(&mut self) -> Result<Node, ExprError> {
        if self.peek() == &Tok::Not {
            let start = self.bump().start;
            self.enter()?;
            let inner = self.not()?;
            self.nesting -= 1;
            let end = inner.end;
            return Node::new(NodeKind::Not(Box::new(inner)), start, end);
        }
        self.cmp()
    }

    fn cmp(&mut self) -> Result<Node, ExprError> {
        let lhs = self.sum()?;
        let op = match self.peek() {
            Tok::Eq => BinOp::Eq,
            Tok::Ne => BinOp::Ne,
            Tok::Lt => BinOp::Lt,
            Tok::Le => BinOp::Le,
            Tok::Gt => BinOp::Gt,
            Tok::Ge => BinOp::Ge,
            Tok::In => return self.membership(lhs),
            _ => return Ok(lhs),
        };
        self.bump();
        let rhs = self.sum()?;
        if let Some(op2) = comparison(self.peek()) {
            return Err(syntax(
                self.start(),
                format!(
                    "comparisons do not chain (`a {} b {} c`); join them with `&&`",
                    op.symbol(),
                    op2
                ),
            ));
        }
        self.binary(op, lhs, rhs)
    }

    fn membership(&mut self, lhs: Node) -> Result<Node, ExprError> {
        self.bump(); // `in`
        let t = self.bump();
        match t.kind {
            Tok::LBracket => {
                let mut lits = Vec::new();
                loop {
                    let t = self.bump();
                    let lit = match t.kind {
                        Tok::Num(n) => Literal::Num(n),
                        Tok::Str(s) => Literal::Str(s),
                        Tok::True => Literal::Bool(true),
                        Tok::False => Literal::Bool(false),
                        other => {
                            return Err(syntax(
                                t.start,
                                format!(
                                    "expected a literal (number, string, true, false) in the list, found {}",
                                    other.describe()
                                ),
                            ))
                        }
                    };
                    lits.push((lit, t.start));
                    let sep = self.bump();
                    match sep.kind {
                        Tok::Comma => continue,
                        Tok::RBracket => break,
                        other => {
                            return Err(syntax(
                                sep.start,
                                format!("expected `,` or `]`, found {}", other.describe()),
                            ))
                        }
                    }
                }
                let (start, end) = (lhs.start, self.prev_end());
                Node::new(NodeKind::InLits(Box::new(lhs), lits), start, end)
            }
            Tok::Name(n) if n.starts_with("list.") && !n["list.".len()..].contains('.') => {
                let name = n["list.".len()..].to_owned();
                let start = lhs.start;
                Node::new(NodeKind::InList(Box::new(lhs), name, t.start), start, t.end)
            }
            other => Err(syntax(
                t.start,
                format!(
                    "`in` needs `[literal, ...]` or `list.NAME`, found {}",
                    other.describe()
                ),
            )),
        }
    }

    fn sum(&mut self) -> Result<Node, ExprError> {
        let mut lhs = self.prod()?;
        loop {
            let op = match self.peek() {
                Tok::Plus => BinOp::Add,
                Tok::Minus => BinOp::Sub,
                _ => return Ok(lhs),
            };
            self.bump();
            let rhs = self.prod()?;
            lhs = self.binary(op, lhs, rhs)?;
        }
    }

    fn prod(&mut self) -> Result<Node, ExprError> {
        let mut lhs = self.unary()?;
        loop {
            let op = match self.peek() {
                Tok::Star => BinOp::Mul,
                Tok::Slash => BinOp::Div,
                _ => return Ok(lhs),
            };
            self.bump();
            let rhs = self.unary()?;
            lhs = self.binary(op, lhs, rhs)?;
        }
    }

    fn unary(&mut self) -> Result<Node, ExprError> {
        if self.peek() == &Tok::Minus {
            let start = self.bump().start;
            self.enter()?;
            let inner = self.unary()?;
            self.nesting -= 1;
            let end = inner.end;
            return Node::new(NodeKind::Neg(Box::new(inner)), start, end);
        }
        self.atom()
    }

    fn atom(&mut self) -> Result<Node, ExprError> {
        let t = self.bump();
        let kind = match t.kind {
            Tok::Num(n) => NodeKind::Lit(Literal::Num(n)),
            Tok::Str(s) => NodeKind::Lit(Literal::Str(s)),
            Tok::True => NodeKind::Lit(Literal::Bool(true)),
            Tok::False => NodeKind::Lit(Literal::Bool(false)),
            Tok::Name(n) => NodeKind::Feature(n),
            Tok::LParen => {
                self.enter()?;
                let inner = self.or()?;
                self.nesting -= 1;
                let close = self.bump();
                if close.kind != Tok::RParen {
                    return Err(syntax(
                        close.start,
                        format!("expected `)`, found {}", close.kind.describe()),
                    ));
                }
                // Keep the parenthesised range so errors point at the whole group.
                return Ok(Node {
                    start: t.start,
                    end: close.end,
                    ..inner
                });
            }
            Tok::End => return Err(syntax(t.start, "the expression ends too early")),
            other => {
                return Err(syntax(
                    t.start,
                    format!("expected a value, found {}", other.describe()),
                ))
            }
        };
        Node::new(kind, t.start, t.end)
    }
}

fn comparison(t: &Tok) -> Option<&'static str> {
    Some(match t {
        Tok::Eq => "==",
        Tok::Ne => "!=",
        Tok::Lt => "<",
        Tok::Le => "<=",
        Tok::Gt => ">",
        Tok::Ge => ">=",
        Tok::In => "in",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(n: &Node) -> String {
        match &n.kind {
            NodeKind::Lit(Literal::Num(v)) => format!("{v}"),
            NodeKind::Lit(Literal::Str(s)) => format!("{s:?}"),
            NodeKind::Lit(Literal::Bool(b)) => format!("{b}"),
            NodeKind::Feature(f) => f.clone(),
            NodeKind::Not(a) => format!("!{}", shape(a)),
            NodeKind::Neg(a) => format!("-{}", shape(a)),
            NodeKind::Bin(op, a, b) => format!("({} {} {})", shape(a), op.symbol(), shape(b)),
            NodeKind::InLits(a, l) => format!("({} in {} lits)", shape(a), l.len()),
            NodeKind::InList(a, name, _) => format!("({} in list {name})", shape(a)),
        }
    }

    fn p(src: &str) -> String {
        shape(&parse(src).expect(src))
    }

    #[test]
    fn precedence_follows_the_grammar() {
        assert_eq!(p("a || b && c"), "(a || (b && c))");
        assert_eq!(p("!a && b"), "(!a && b)");
        assert_eq!(p("a + b * c > 3"), "((a + (b * c)) > 3)");
        assert_eq!(p("a - b - c"), "((a - b) - c)");
        assert_eq!(p("-a * b"), "(-a * b)");
        assert_eq!(p("!(a == 1)"), "!(a == 1)");
        assert_eq!(p("x.y in [1, 2]"), "(x.y in 2 lits)");
        assert_eq!(p("asn.number in list.vpn"), "(asn.number in list vpn)");
    }

    #[test]
    fn literals_are_lexed_with_escapes_and_exponents() {
        assert_eq!(p(r#"a == "say \"hi\" \\""#), r#"(a == "say \"hi\" \\")"#);
        assert_eq!(p("a < 1e3"), "(a < 1000)");
        assert_eq!(p("a < 2.5E-1"), "(a < 0.25)");
    }

    fn err(src: &str) -> ExprError {
        parse(src).expect_err(src)
    }

    #[test]
    fn syntax_errors_say_where() {
        let e = err("a && && b");
        assert_eq!(e.offset, 5, "{e}");
        assert!(e.message.contains("expected a value"), "{e}");
        assert_eq!(err("a = 1").offset, 2);
        assert_eq!(err("(a && b").offset, 7);
        assert_eq!(err("a < b < c").offset, 6);
        assert_eq!(err(r#"a == "open"#).offset, 5);
        assert_eq!(err("a in [1, ]").offset, 9);
        assert_eq!(err("a in list.x.y").offset, 5);
        assert_eq!(err("1. > a").offset, 1);
        assert_eq!(err("a.").offset, 1);
        assert_eq!(err("").offset, 0);
        assert_eq!(err("a b").offset, 2);
        assert_eq!(err("a # b").offset, 2);
        assert!(err("a and b").message.contains("write `&&`"));
        assert!(err("a or b").message.contains("write `||`"));
        assert!(err("not a").message.contains("write `!`"));
    }

    #[test]
    fn deep_nesting_is_refused_not_a_stack_overflow() {
        let deep = format!("{}a{}", "(".repeat(10_000), ")".repeat(10_000));
        assert!(err(&deep).message.contains("nested too deeply"));
        let nots = format!("{}a", "!".repeat(10_000));
        assert!(err(&nots).message.contains("nested too deeply"));
        let chain = vec!["a"; 1000].join(" && ");
        assert!(err(&chain).message.contains("nested too deeply"));
        // A realistic long rule is fine.
        let ok = vec!["a"; 100].join(" && ");
        assert!(parse(&ok).is_ok());
    }
}
