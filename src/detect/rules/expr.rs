//! Type checking and compilation of `when` expressions into a flat program, and its evaluation.
//!
//! A compiled [`Expr`] is an array of nodes that refer to each other by index; constants are
//! parsed once, `in [...]` sets are sorted slices, named lists are shared with [`Lists`]. So
//! [`Expr::eval`] walks the array and allocates nothing, whatever the event.
//!
//! `a && b && c` is one n-ary node, not a left-nested chain of binary ones: almost every rule
//! opens with `login.success &&` or `access &&`, and a flat conjunction lets that first false
//! test end the walk after two node visits instead of descending the whole chain first
//! (BENCHMARKS.md §2 measured ~55 visits per rule with binary nodes). The bool features a
//! conjunction requires are recorded ([`Expr::required`]) so a caller can skip a rule without
//! evaluating it when one of them cannot hold.

use std::cmp::Ordering;
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use super::error::ExprError;
use super::lists::{contains_num, sorted_nums, CidrSet, List, ListKind, Lists};
use super::syntax::{self, BinOp, Literal, NodeKind};
use crate::detect::value::{FeatureDef, FeatureSource, Type, Value};

/// Comparison operators, in compiled form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// Arithmetic operators, in compiled form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Arith {
    Add,
    Sub,
    Mul,
    Div,
}

/// A literal set for `in [...]`, sorted for binary search.
#[derive(Clone, Debug)]
enum LitSet {
    Bool { has_true: bool, has_false: bool },
    Num(Box<[f64]>),
    Str(Box<[Box<str>]>),
    Ip(CidrSet),
}

/// One instruction of the compiled program. Children are indices into [`Expr::nodes`] and
/// always smaller than the node's own index.
#[derive(Clone, Debug)]
enum Op {
    Bool(bool),
    Num(f64),
    /// Index into [`Expr::strings`].
    Str(u32),
    Ip(IpAddr),
    /// Catalog index.
    Feature(u32),
    Not(u32),
    /// Conjunction of `len` operands starting at `start` in [`Expr::args`], left to right.
    All(u32, u32),
    /// Disjunction, likewise.
    Any(u32, u32),
    Neg(u32),
    Arith(Arith, u32, u32),
    Cmp(Cmp, u32, u32),
    /// Operand, index into [`Expr::sets`].
    InSet(u32, u32),
    /// Operand, index into [`Expr::lists`].
    InList(u32, u32),
}

/// A compiled, type-checked `when` expression. Cheap to evaluate, `Send + Sync`.
#[derive(Clone, Debug)]
pub struct Expr {
    nodes: Vec<Op>,
    /// Operand lists of [`Op::All`] and [`Op::Any`].
    args: Vec<u32>,
    /// Bool features that are top-level conjuncts: the expression is false unless each is true.
    required: Vec<usize>,
    strings: Vec<Box<str>>,
    sets: Vec<LitSet>,
    lists: Vec<Arc<List>>,
    features: Vec<usize>,
}

impl Expr {
    /// True when the expression holds for the event `f` describes. Missing values follow the
    /// language's rules: arithmetic with a missing operand is missing, a comparison or `in`
    /// with a missing operand is false, a missing bool is false.
    pub fn eval<S: FeatureSource + ?Sized>(&self, f: &S) -> bool {
        match self.nodes.len().checked_sub(1) {
            Some(root) => self.truth(root, f),
            None => false,
        }
    }

    /// Catalog indices of the features the expression reads, in order of first use: the
    /// features an alert's explanation should show.
    pub fn features(&self) -> &[usize] {
        &self.features
    }

    /// Catalog indices of bool features the expression cannot hold without: the expression is
    /// a feature alone or a conjunction with these features among its operands. A caller that
    /// knows one of them is not true for an event may skip [`Expr::eval`]; it would be false.
    pub fn required(&self) -> &[usize] {
        &self.required
    }

    fn operands(&self, start: u32, len: u32) -> &[u32] {
        let start = start as usize;
        self.args.get(start..start + len as usize).unwrap_or(&[])
    }

    /// `value(i) == Bool(true)`, without building the value for bool nodes.
    fn truth<S: FeatureSource + ?Sized>(&self, i: usize, f: &S) -> bool {
        let Some(op) = self.nodes.get(i) else {
            return false;
        };
        let at = |j: u32| j as usize;
        match *op {
            Op::Bool(b) => b,
            Op::Feature(k) => matches!(f.feature(at(k)), Value::Bool(true)),
            Op::Not(a) => !self.truth(at(a), f),
            Op::All(s, n) => self.operands(s, n).iter().all(|&a| self.truth(at(a), f)),
            Op::Any(s, n) => self.operands(s, n).iter().any(|&a| self.truth(at(a), f)),
            Op::Cmp(op, a, b) => compare(op, self.value(at(a), f), self.value(at(b), f)),
            Op::InSet(a, s) => {
                let v = self.value(at(a), f);
                self.sets.get(at(s)).is_some_and(|set| set_contains(set, v))
            }
            Op::InList(a, l) => {
                let v = self.value(at(a), f);
                self.lists.get(at(l)).is_some_and(|list| list.contains(v))
            }
            // Not bool values: never `true`.
            Op::Num(_) | Op::Str(_) | Op::Ip(_) | Op::Neg(_) | Op::Arith(..) => false,
        }
    }

    fn value<'s, S: FeatureSource + ?Sized>(&'s self, i: usize, f: &'s S) -> Value<'s> {
        let Some(op) = self.nodes.get(i) else {
            return Value::Missing;
        };
        let at = |j: u32| j as usize;
        match *op {
            Op::Bool(b) => Value::Bool(b),
            Op::Num(n) => Value::Num(n),
            Op::Str(s) => match self.strings.get(at(s)) {
                Some(s) => Value::Str(s),
                None => Value::Missing,
            },
            Op::Ip(ip) => Value::Ip(ip),
            Op::Feature(k) => f.feature(at(k)),
            Op::Neg(a) => match self.value(at(a), f) {
                Value::Num(n) => Value::Num(-n),
                _ => Value::Missing,
            },
            Op::Arith(op, a, b) => match (self.value(at(a), f), self.value(at(b), f)) {
                (Value::Num(x), Value::Num(y)) => arith(op, x, y),
                _ => Value::Missing,
            },
            Op::Not(_)
            | Op::All(..)
            | Op::Any(..)
            | Op::Cmp(..)
            | Op::InSet(..)
            | Op::InList(..) => Value::Bool(self.truth(i, f)),
        }
    }
}

fn arith(op: Arith, x: f64, y: f64) -> Value<'static> {
    let r = match op {
        Arith::Add => x + y,
        Arith::Sub => x - y,
        Arith::Mul => x * y,
        // A ratio without a denominator is unknown, not infinite: `a / b > 3` must not fire
        // because `b` happened to be zero.
        Arith::Div if y == 0.0 => return Value::Missing,
        Arith::Div => x / y,
    };
    if r.is_finite() {
        Value::Num(r)
    } else {
        Value::Missing
    }
}

fn compare(op: Cmp, a: Value<'_>, b: Value<'_>) -> bool {
    let ord = match (a, b) {
        (Value::Num(x), Value::Num(y)) => x.partial_cmp(&y),
        (Value::Str(x), Value::Str(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(&y)),
        (Value::Ip(x), Value::Ip(y)) => Some(x.to_canonical().cmp(&y.to_canonical())),
        // Missing, or a feature source that broke its catalog's type: never true.
        _ => None,
    };
    let Some(ord) = ord else { return false };
    match op {
        Cmp::Eq => ord == Ordering::Equal,
        Cmp::Ne => ord != Ordering::Equal,
        Cmp::Lt => ord == Ordering::Less,
        Cmp::Le => ord != Ordering::Greater,
        Cmp::Gt => ord == Ordering::Greater,
        Cmp::Ge => ord != Ordering::Less,
    }
}

fn set_contains(set: &LitSet, v: Value<'_>) -> bool {
    match (set, v) {
        (LitSet::Bool { has_true, .. }, Value::Bool(true)) => *has_true,
        (LitSet::Bool { has_false, .. }, Value::Bool(false)) => *has_false,
        (LitSet::Num(xs), Value::Num(n)) => contains_num(xs, n),
        (LitSet::Str(xs), Value::Str(s)) => xs.binary_search_by(|x| (**x).cmp(s)).is_ok(),
        (LitSet::Ip(c), Value::Ip(ip)) => c.contains(ip),
        _ => false,
    }
}

/// Compiles a `when` expression against a feature catalog and the named lists. The whole
/// expression must be `bool`.
pub fn compile(src: &str, catalog: &[FeatureDef], lists: &Lists) -> Result<Expr, ExprError> {
    let tree = syntax::parse(src)?;
    let mut c = Compiler {
        catalog,
        lists,
        expr: Expr {
            nodes: Vec::new(),
            args: Vec::new(),
            required: Vec::new(),
            strings: Vec::new(),
            sets: Vec::new(),
            lists: Vec::new(),
            features: Vec::new(),
        },
        list_names: Vec::new(),
    };
    let (_, ty) = c.node(&tree)?;
    if ty != Type::Bool {
        return Err(ExprError::new(
            tree.start,
            format!("the rule must be a condition (bool), but this expression is {ty}"),
        ));
    }
    let root = c.expr.nodes.len() - 1;
    c.expr.required = match c.expr.nodes[root] {
        Op::Feature(k) => vec![k as usize],
        Op::All(s, n) => {
            let mut req = Vec::new();
            for &a in c.expr.operands(s, n) {
                if let Some(Op::Feature(k)) = c.expr.nodes.get(a as usize) {
                    req.push(*k as usize);
                }
            }
            req
        }
        _ => Vec::new(),
    };
    c.expr.nodes.shrink_to_fit();
    c.expr.args.shrink_to_fit();
    Ok(c.expr)
}

struct Compiler<'c> {
    catalog: &'c [FeatureDef],
    lists: &'c Lists,
    expr: Expr,
    /// Names of the lists already in `expr.lists`, so each is referenced once.
    list_names: Vec<String>,
}

/// A compiled operand: its node index and type.
type Operand = (u32, Type);

impl Compiler<'_> {
    fn push(&mut self, op: Op) -> u32 {
        self.expr.nodes.push(op);
        // The tree depth and source length bound the node count far below u32::MAX.
        (self.expr.nodes.len() - 1) as u32
    }

    fn node(&mut self, n: &syntax::Node) -> Result<Operand, ExprError> {
        match &n.kind {
            NodeKind::Lit(Literal::Bool(b)) => Ok((self.push(Op::Bool(*b)), Type::Bool)),
            NodeKind::Lit(Literal::Num(x)) => Ok((self.push(Op::Num(*x)), Type::Num)),
            NodeKind::Lit(Literal::Str(s)) => {
                self.expr.strings.push(s.as_str().into());
                let k = (self.expr.strings.len() - 1) as u32;
                Ok((self.push(Op::Str(k)), Type::Str))
            }
            NodeKind::Feature(name) => {
                let k = self.feature(name, n.start)?;
                Ok((self.push(Op::Feature(k as u32)), self.catalog[k].ty))
            }
            NodeKind::Not(a) => {
                let (a_i, a_ty) = self.node(a)?;
                expect(a, a_ty, Type::Bool, "`!`")?;
                Ok((self.push(Op::Not(a_i)), Type::Bool))
            }
            NodeKind::Neg(a) => {
                let (a_i, a_ty) = self.node(a)?;
                expect(a, a_ty, Type::Num, "unary `-`")?;
                Ok((self.push(Op::Neg(a_i)), Type::Num))
            }
            NodeKind::Bin(op, a, b) => self.binary(*op, a, b),
            NodeKind::InLits(a, lits) => self.in_literals(a, lits),
            NodeKind::InList(a, name, at) => self.in_list(a, name, *at),
        }
    }

    fn feature(&mut self, name: &str, at: usize) -> Result<usize, ExprError> {
        match self.catalog.iter().position(|d| d.name == name) {
            Some(k) => {
                if !self.expr.features.contains(&k) {
                    self.expr.features.push(k);
                }
                Ok(k)
            }
            None if name.starts_with("list.") => Err(ExprError::new(
                at,
                format!("`{name}` is a list, not a value: test membership with `x in {name}`"),
            )),
            None => Err(ExprError::new(at, unknown_feature(name, self.catalog))),
        }
    }

    fn binary(
        &mut self,
        op: BinOp,
        a: &syntax::Node,
        b: &syntax::Node,
    ) -> Result<Operand, ExprError> {
        let what = format!("`{}`", op.symbol());
        match op {
            BinOp::And | BinOp::Or => {
                let mut operands = Vec::new();
                self.chain(op, a, &what, &mut operands)?;
                self.chain(op, b, &what, &mut operands)?;
                let start = self.expr.args.len() as u32;
                let len = operands.len() as u32;
                self.expr.args.extend(operands);
                let node = if op == BinOp::And {
                    Op::All(start, len)
                } else {
                    Op::Any(start, len)
                };
                Ok((self.push(node), Type::Bool))
            }
            BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div => {
                let (a_i, a_ty) = self.node(a)?;
                expect(a, a_ty, Type::Num, &what)?;
                let (b_i, b_ty) = self.node(b)?;
                expect(b, b_ty, Type::Num, &what)?;
                let ar = match op {
                    BinOp::Add => Arith::Add,
                    BinOp::Sub => Arith::Sub,
                    BinOp::Mul => Arith::Mul,
                    _ => Arith::Div,
                };
                Ok((self.push(Op::Arith(ar, a_i, b_i)), Type::Num))
            }
            BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
                let (a_i, a_ty) = self.node(a)?;
                expect(a, a_ty, Type::Num, &what)?;
                let (b_i, b_ty) = self.node(b)?;
                expect(b, b_ty, Type::Num, &what)?;
                let cmp = match op {
                    BinOp::Lt => Cmp::Lt,
                    BinOp::Le => Cmp::Le,
                    BinOp::Gt => Cmp::Gt,
                    _ => Cmp::Ge,
                };
                Ok((self.push(Op::Cmp(cmp, a_i, b_i)), Type::Bool))
            }
            BinOp::Eq | BinOp::Ne => {
                let (a_i, a_ty) = self.equality_operand(a, b)?;
                let (b_i, b_ty) = self.equality_operand(b, a)?;
                if a_ty != b_ty {
                    return Err(ExprError::new(
                        b.start,
                        format!(
                            "`{sym}` compares values of one type, but this is {a_ty} {sym} {b_ty}",
                            sym = op.symbol()
                        ),
                    ));
                }
                let cmp = if op == BinOp::Eq { Cmp::Eq } else { Cmp::Ne };
                Ok((self.push(Op::Cmp(cmp, a_i, b_i)), Type::Bool))
            }
        }
    }

    /// Compiles the operands of a chain of one boolean operator (`a && b && c`, however it is
    /// grouped) left to right into `out`, so the chain becomes one n-ary node. Evaluation
    /// order, short-circuiting and type errors are those of the nested binary form.
    fn chain(
        &mut self,
        op: BinOp,
        n: &syntax::Node,
        what: &str,
        out: &mut Vec<u32>,
    ) -> Result<(), ExprError> {
        if let NodeKind::Bin(inner, a, b) = &n.kind {
            if *inner == op {
                self.chain(op, a, what, out)?;
                return self.chain(op, b, what, out);
            }
        }
        let (i, ty) = self.node(n)?;
        expect(n, ty, Type::Bool, what)?;
        out.push(i);
        Ok(())
    }

    /// Compiles one side of `==`/`!=`. A string literal facing an `ip` feature is an address:
    /// there is no address literal in the language, so `ip == "203.0.113.7"` means this.
    fn equality_operand(
        &mut self,
        side: &syntax::Node,
        other: &syntax::Node,
    ) -> Result<Operand, ExprError> {
        if let NodeKind::Lit(Literal::Str(s)) = &side.kind {
            if let NodeKind::Feature(name) = &other.kind {
                if let Some(d) = self.catalog.iter().find(|d| d.name == name.as_str()) {
                    if d.ty == Type::Ip {
                        let ip: IpAddr = s.parse().map_err(|_| {
                            ExprError::new(side.start, format!("`{s}` is not an IP address"))
                        })?;
                        return Ok((self.push(Op::Ip(ip.to_canonical())), Type::Ip));
                    }
                }
            }
        }
        self.node(side)
    }

    fn in_literals(
        &mut self,
        a: &syntax::Node,
        lits: &[(Literal, usize)],
    ) -> Result<Operand, ExprError> {
        let (a_i, a_ty) = self.node(a)?;
        let wrong = |at: usize, found: &str| {
            ExprError::new(
                at,
                format!("`in` on a {a_ty} value needs {a_ty} literals, found {found}"),
            )
        };
        let set = match a_ty {
            Type::Bool => {
                let (mut has_true, mut has_false) = (false, false);
                for (lit, at) in lits {
                    match lit {
                        Literal::Bool(true) => has_true = true,
                        Literal::Bool(false) => has_false = true,
                        other => return Err(wrong(*at, literal_type(other))),
                    }
                }
                LitSet::Bool {
                    has_true,
                    has_false,
                }
            }
            Type::Num => {
                let mut xs = Vec::with_capacity(lits.len());
                for (lit, at) in lits {
                    match lit {
                        Literal::Num(n) => xs.push(*n),
                        other => return Err(wrong(*at, literal_type(other))),
                    }
                }
                LitSet::Num(sorted_nums(xs))
            }
            Type::Str => {
                let mut xs: Vec<Box<str>> = Vec::with_capacity(lits.len());
                for (lit, at) in lits {
                    match lit {
                        Literal::Str(s) => xs.push(s.as_str().into()),
                        other => return Err(wrong(*at, literal_type(other))),
                    }
                }
                xs.sort();
                xs.dedup();
                LitSet::Str(xs.into())
            }
            Type::Ip => {
                let mut nets = Vec::with_capacity(lits.len());
                for (lit, at) in lits {
                    match lit {
                        Literal::Str(s) => nets.push(CidrSet::parse_net(s).map_err(|e| {
                            ExprError::new(*at, format!("`{s}` is not an address or network: {e}"))
                        })?),
                        other => {
                            return Err(ExprError::new(
                                *at,
                                format!(
                                    "`in` on an ip value needs address or network strings (\"10.0.0.0/8\"), found {}",
                                    literal_type(other)
                                ),
                            ))
                        }
                    }
                }
                LitSet::Ip(CidrSet::from_nets(nets))
            }
        };
        self.expr.sets.push(set);
        let s = (self.expr.sets.len() - 1) as u32;
        Ok((self.push(Op::InSet(a_i, s)), Type::Bool))
    }

    fn in_list(&mut self, a: &syntax::Node, name: &str, at: usize) -> Result<Operand, ExprError> {
        let (a_i, a_ty) = self.node(a)?;
        let Some(list) = self.lists.get(name) else {
            let mut msg = format!("unknown list `list.{name}`");
            if let Some(close) = closest(name, self.lists.names()) {
                msg.push_str(&format!(" (did you mean `list.{close}`?)"));
            } else if self.lists.is_empty() {
                msg.push_str(" (no lists are defined in lists/)");
            }
            return Err(ExprError::new(at, msg));
        };
        let fits = matches!(
            (a_ty, list.kind()),
            (Type::Num, ListKind::Num) | (Type::Str, ListKind::Str) | (Type::Ip, ListKind::Cidr)
        );
        if !fits {
            let want = match a_ty {
                Type::Num => "a `num` list",
                Type::Str => "a `str` list",
                Type::Ip => "a `cidr` list",
                Type::Bool => "nothing: a bool cannot be looked up in a list",
            };
            return Err(ExprError::new(
                at,
                format!(
                    "list `{name}` is a `{}` list, but the value is {a_ty}, which needs {want}",
                    list.kind()
                ),
            ));
        }
        let l = match self.list_names.iter().position(|n| n == name) {
            Some(l) => l,
            None => {
                self.list_names.push(name.to_owned());
                self.expr.lists.push(Arc::clone(list));
                self.expr.lists.len() - 1
            }
        };
        Ok((self.push(Op::InList(a_i, l as u32)), Type::Bool))
    }
}

fn expect(n: &syntax::Node, found: Type, want: Type, what: &str) -> Result<(), ExprError> {
    if found == want {
        return Ok(());
    }
    Err(ExprError::new(
        n.start,
        format!("{what} needs {want}, but this is {found}"),
    ))
}

fn literal_type(l: &Literal) -> &'static str {
    match l {
        Literal::Bool(_) => "a bool",
        Literal::Num(_) => "a number",
        Literal::Str(_) => "a string",
    }
}

/// The catalog name closest to `name`, when one is close enough to be a likely typo.
pub(crate) fn closest<'a>(
    name: &str,
    candidates: impl Iterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .map(|c| (strsim::jaro_winkler(name, c), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// "unknown feature `x` (did you mean `y`?)"
pub(crate) fn unknown_feature(name: &str, catalog: &[FeatureDef]) -> String {
    let mut msg = format!("unknown feature `{name}`");
    if let Some(close) = closest(name, catalog.iter().map(|d| d.name)) {
        msg.push_str(&format!(" (did you mean `{close}`?)"));
    }
    msg
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Type::Bool => "bool",
            Type::Num => "num",
            Type::Str => "str",
            Type::Ip => "ip",
        })
    }
}
