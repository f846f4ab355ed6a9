//! A safe reader for the pickle (protocols 2 to 5) inside a `torch.save` file: a small stack
//! machine that knows only the opcodes `torch.save(model.state_dict(), f)` writes, and that builds
//! plain data. Nothing in the file is ever executed or imported.
//!
//! Globals are looked up in a fixed allowlist: `collections.OrderedDict` (an empty dict),
//! `torch._utils._rebuild_tensor_v2`, `torch._utils._rebuild_parameter`,
//! `torch._utils._rebuild_parameter_with_state` (a tensor description, read later from the zip),
//! and the typed storages `torch.FloatStorage`, `DoubleStorage`, `HalfStorage`, `BFloat16Storage`,
//! `LongStorage`, `IntStorage`, `ShortStorage`, `CharStorage`, `ByteStorage`, `BoolStorage`
//! (usable only inside a persistent id). This is everything torch 2.11 writes for a state_dict.
//! Refused, each with a one-line error: any other global (`posix.system`, `builtins.eval`, ...),
//! calling an allowed global with unexpected arguments, `BUILD` on anything but a dict (the
//! state_dict's `_metadata` is accepted and ignored), persistent ids other than
//! `('storage', type, key, location, numel)`, integers wider than 64 bits, any opcode outside the
//! list (named with its byte and offset), a truncated stream and a missing `STOP`.

use std::collections::HashMap;

/// Why a pickle was refused (the caller adds the file name).
pub(crate) type PickleResult<T> = std::result::Result<T, String>;

/// The element type of a torch storage, from its `torch.*Storage` global.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StorageDtype {
    F32,
    F64,
    F16,
    BF16,
    I64,
    I32,
    I16,
    I8,
    U8,
    Bool,
}

impl StorageDtype {
    /// Bytes per element.
    pub(crate) fn size(self) -> usize {
        match self {
            Self::F64 | Self::I64 => 8,
            Self::F32 | Self::I32 => 4,
            Self::F16 | Self::BF16 | Self::I16 => 2,
            Self::I8 | Self::U8 | Self::Bool => 1,
        }
    }

    /// Every dtype with its `torch.*Storage` name.
    const ALL: [(Self, &'static str); 10] = [
        (Self::F32, "FloatStorage"),
        (Self::F64, "DoubleStorage"),
        (Self::F16, "HalfStorage"),
        (Self::BF16, "BFloat16Storage"),
        (Self::I64, "LongStorage"),
        (Self::I32, "IntStorage"),
        (Self::I16, "ShortStorage"),
        (Self::I8, "CharStorage"),
        (Self::U8, "ByteStorage"),
        (Self::Bool, "BoolStorage"),
    ];

    fn from_storage_name(name: &str) -> Option<Self> {
        Self::ALL.iter().find(|(_, n)| *n == name).map(|(d, _)| *d)
    }

    /// The name of its storage type, e.g. `FloatStorage`.
    pub(crate) fn storage_name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(d, _)| *d == self)
            .map_or("UnknownStorage", |(_, n)| n)
    }
}

/// One storage of the archive, as named by a persistent id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct StorageRef {
    /// The entry `<folder>/data/<key>`.
    pub(crate) key: String,
    pub(crate) dtype: StorageDtype,
    /// Number of elements.
    pub(crate) numel: i64,
}

/// A tensor as `_rebuild_tensor_v2` describes it: a strided view of a storage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TensorRef {
    pub(crate) storage: StorageRef,
    /// Offset of element 0 in the storage, in elements.
    pub(crate) offset: i64,
    pub(crate) size: Vec<i64>,
    pub(crate) stride: Vec<i64>,
}

/// Reads the pickle of a state_dict: a dict (or `OrderedDict`) from string keys to tensors, in
/// file order. An entry that is not a tensor is an error naming its key.
pub(crate) fn read_state_dict(data: &[u8]) -> PickleResult<Vec<(String, TensorRef)>> {
    let p = unpickle(data)?;
    let Obj::Dict(items) = &p.objs[p.root] else {
        return Err(format!(
            "the pickle holds {}, not a state_dict (a dict of tensors)",
            p.describe(p.root)
        ));
    };
    let mut out = Vec::with_capacity(items.len());
    for &(k, v) in items {
        let Obj::Str(key) = &p.objs[k] else {
            return Err(format!(
                "a state_dict key is {}, not a string",
                p.describe(k)
            ));
        };
        match &p.objs[v] {
            Obj::Tensor(t) => out.push((key.clone(), t.clone())),
            _ => {
                let hint = if matches!(p.objs[v], Obj::Dict(_)) {
                    " (a training checkpoint? load it in PyTorch and torch.save its model's state_dict())"
                } else {
                    ""
                };
                return Err(format!(
                    "entry {key} is {}, not a tensor{hint}",
                    p.describe(v)
                ));
            }
        }
    }
    Ok(out)
}

/// What a recognised global stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Global {
    OrderedDict,
    RebuildTensorV2,
    RebuildParameter,
    RebuildParameterWithState,
    Storage(StorageDtype),
}

impl Global {
    fn resolve(module: &str, name: &str) -> PickleResult<Self> {
        Ok(match (module, name) {
            ("collections", "OrderedDict") => Self::OrderedDict,
            ("torch._utils", "_rebuild_tensor_v2") => Self::RebuildTensorV2,
            ("torch._utils", "_rebuild_parameter") => Self::RebuildParameter,
            ("torch._utils", "_rebuild_parameter_with_state") => Self::RebuildParameterWithState,
            ("torch", n) => match StorageDtype::from_storage_name(n) {
                Some(d) => Self::Storage(d),
                None => return Err(refused(module, name)),
            },
            _ => return Err(refused(module, name)),
        })
    }

    fn name(self) -> String {
        match self {
            Self::OrderedDict => "collections.OrderedDict".into(),
            Self::RebuildTensorV2 => "torch._utils._rebuild_tensor_v2".into(),
            Self::RebuildParameter => "torch._utils._rebuild_parameter".into(),
            Self::RebuildParameterWithState => "torch._utils._rebuild_parameter_with_state".into(),
            Self::Storage(d) => format!("torch.{}", d.storage_name()),
        }
    }
}

fn refused(module: &str, name: &str) -> String {
    format!(
        "refused the pickle global {module}.{name}: a state_dict needs only \
         collections.OrderedDict, torch._utils._rebuild_tensor_v2 / _rebuild_parameter and \
         torch.*Storage, and nothing in the file was executed"
    )
}

/// Index of an object in the arena.
type Id = usize;

/// A pickled object. Containers hold arena ids, so that a memoized container that is filled
/// after being memoized (as pickle does) is seen filled wherever it is referenced.
#[derive(Clone, Debug)]
enum Obj {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    Tuple(Vec<Id>),
    List(Vec<Id>),
    Dict(Vec<(Id, Id)>),
    Global(Global),
    Storage(StorageRef),
    Tensor(TensorRef),
}

/// A stack slot: an object or a MARK.
#[derive(Clone, Copy, Debug)]
enum Slot {
    Mark,
    Obj(Id),
}

/// The result of running the machine: the arena and the id of the object STOP returned.
#[derive(Debug)]
struct Pickled {
    objs: Vec<Obj>,
    root: Id,
}

impl Pickled {
    /// A short description of an object for error messages ("an int (7)", "a dict", ...).
    fn describe(&self, id: Id) -> String {
        describe(&self.objs, id)
    }
}

fn describe(objs: &[Obj], id: Id) -> String {
    match &objs[id] {
        Obj::None => "None".into(),
        Obj::Bool(b) => format!("a bool ({})", if *b { "True" } else { "False" }),
        Obj::Int(i) => format!("an int ({i})"),
        Obj::Float(f) => format!("a float ({f})"),
        Obj::Str(s) => format!("a string ({:?})", truncate(s)),
        Obj::Bytes(b) => format!("bytes ({} long)", b.len()),
        Obj::Tuple(t) => format!("a tuple of {}", t.len()),
        Obj::List(l) => format!("a list of {}", l.len()),
        Obj::Dict(d) => format!("a dict of {} entries", d.len()),
        Obj::Global(g) => format!("the global {}", g.name()),
        Obj::Storage(_) => "a storage".into(),
        Obj::Tensor(_) => "a tensor".into(),
    }
}

fn truncate(s: &str) -> String {
    if s.chars().count() > 40 {
        format!("{}...", s.chars().take(40).collect::<String>())
    } else {
        s.to_string()
    }
}

/// Runs the pickle machine over `data` up to its STOP.
fn unpickle(data: &[u8]) -> PickleResult<Pickled> {
    let mut m = Machine {
        data,
        pos: 0,
        objs: Vec::new(),
        stack: Vec::new(),
        memo: HashMap::new(),
    };
    let root = m.run()?;
    Ok(Pickled { objs: m.objs, root })
}

struct Machine<'a> {
    data: &'a [u8],
    pos: usize,
    objs: Vec<Obj>,
    stack: Vec<Slot>,
    memo: HashMap<u32, Id>,
}

impl Machine<'_> {
    fn run(&mut self) -> PickleResult<Id> {
        loop {
            let at = self.pos;
            let op = self.take(1)?[0];
            match op {
                // PROTO
                0x80 => {
                    let v = self.take(1)?[0];
                    if !(2..=5).contains(&v) {
                        return Err(format!(
                            "pickle protocol {v} at byte {at}; torch.save writes 2 (this reads 2 to 5)"
                        ));
                    }
                }
                // FRAME: a length prefix of the next opcodes; the data is read as it comes.
                0x95 => {
                    let _ = self.take(8)?;
                }
                // STOP
                b'.' => {
                    return match self.stack.as_slice() {
                        [Slot::Obj(id)] => Ok(*id),
                        _ => Err(format!(
                            "STOP at byte {at} with {} stack items (expected 1)",
                            self.stack.len()
                        )),
                    };
                }
                // MARK
                b'(' => self.stack.push(Slot::Mark),
                // POP
                b'0' => {
                    self.pop(at)?;
                }
                // POP_MARK
                b'1' => {
                    self.pop_mark(at)?;
                }
                // EMPTY_DICT, EMPTY_LIST, EMPTY_TUPLE
                b'}' => self.push(Obj::Dict(Vec::new())),
                b']' => self.push(Obj::List(Vec::new())),
                b')' => self.push(Obj::Tuple(Vec::new())),
                // TUPLE, LIST, DICT (from the items above the mark)
                b't' => {
                    let items = self.pop_mark(at)?;
                    self.push(Obj::Tuple(items));
                }
                b'l' => {
                    let items = self.pop_mark(at)?;
                    self.push(Obj::List(items));
                }
                b'd' => {
                    let items = self.pop_mark(at)?;
                    let pairs = pairs(items, at)?;
                    self.push(Obj::Dict(pairs));
                }
                // TUPLE1, TUPLE2, TUPLE3
                0x85..=0x87 => {
                    let n = usize::from(op - 0x84);
                    let mut items = Vec::with_capacity(n);
                    for _ in 0..n {
                        items.push(self.pop(at)?);
                    }
                    items.reverse();
                    self.push(Obj::Tuple(items));
                }
                // SETITEM
                b's' => {
                    let v = self.pop(at)?;
                    let k = self.pop(at)?;
                    let d = self.peek(at)?;
                    self.dict_mut(d, at, "SETITEM")?.push((k, v));
                }
                // SETITEMS
                b'u' => {
                    let items = self.pop_mark(at)?;
                    let new = pairs(items, at)?;
                    let d = self.peek(at)?;
                    self.dict_mut(d, at, "SETITEMS")?.extend(new);
                }
                // APPEND
                b'a' => {
                    let v = self.pop(at)?;
                    let l = self.peek(at)?;
                    self.list_mut(l, at)?.push(v);
                }
                // APPENDS
                b'e' => {
                    let items = self.pop_mark(at)?;
                    let l = self.peek(at)?;
                    self.list_mut(l, at)?.extend(items);
                }
                // BINUNICODE, SHORT_BINUNICODE, BINUNICODE8
                b'X' => {
                    let n = self.u32()? as u64;
                    self.string(n, at)?;
                }
                0x8c => {
                    let n = u64::from(self.take(1)?[0]);
                    self.string(n, at)?;
                }
                0x8d => {
                    let n = self.u64()?;
                    self.string(n, at)?;
                }
                // BINBYTES, SHORT_BINBYTES
                b'B' => {
                    let n = self.u32()? as u64;
                    let b = self.take_u64(n)?.to_vec();
                    self.push(Obj::Bytes(b));
                }
                b'C' => {
                    let n = u64::from(self.take(1)?[0]);
                    let b = self.take_u64(n)?.to_vec();
                    self.push(Obj::Bytes(b));
                }
                // BININT, BININT1, BININT2
                b'J' => {
                    let v = self.u32()? as i32;
                    self.push(Obj::Int(i64::from(v)));
                }
                b'K' => {
                    let v = self.take(1)?[0];
                    self.push(Obj::Int(i64::from(v)));
                }
                b'M' => {
                    let b = self.take(2)?;
                    let v = u16::from_le_bytes([b[0], b[1]]);
                    self.push(Obj::Int(i64::from(v)));
                }
                // LONG1, LONG4: little-endian two's complement, at most 8 bytes here.
                0x8a => {
                    let n = u64::from(self.take(1)?[0]);
                    self.long(n, at)?;
                }
                0x8b => {
                    let n = self.u32()? as u64;
                    self.long(n, at)?;
                }
                // BINFLOAT: big-endian IEEE double.
                b'G' => {
                    let b = self.take(8)?;
                    let mut a = [0u8; 8];
                    a.copy_from_slice(b);
                    self.push(Obj::Float(f64::from_be_bytes(a)));
                }
                // NONE, NEWTRUE, NEWFALSE
                b'N' => self.push(Obj::None),
                0x88 => self.push(Obj::Bool(true)),
                0x89 => self.push(Obj::Bool(false)),
                // BINPUT, LONG_BINPUT, MEMOIZE
                b'q' => {
                    let i = u32::from(self.take(1)?[0]);
                    self.put(i, at)?;
                }
                b'r' => {
                    let i = self.u32()?;
                    self.put(i, at)?;
                }
                0x94 => {
                    let i = u32::try_from(self.memo.len())
                        .map_err(|_| format!("memo overflow at byte {at}"))?;
                    self.put(i, at)?;
                }
                // BINGET, LONG_BINGET
                b'h' => {
                    let i = u32::from(self.take(1)?[0]);
                    self.get(i, at)?;
                }
                b'j' => {
                    let i = self.u32()?;
                    self.get(i, at)?;
                }
                // GLOBAL: "module\nname\n"
                b'c' => {
                    let module = self.line(at)?;
                    let name = self.line(at)?;
                    let g = Global::resolve(&module, &name)?;
                    self.push(Obj::Global(g));
                }
                // STACK_GLOBAL
                0x93 => {
                    let name = self.pop(at)?;
                    let module = self.pop(at)?;
                    let (Obj::Str(module), Obj::Str(name)) = (&self.objs[module], &self.objs[name])
                    else {
                        return Err(format!("STACK_GLOBAL at byte {at} without two strings"));
                    };
                    let g = Global::resolve(module, name)?;
                    self.push(Obj::Global(g));
                }
                // REDUCE
                b'R' => {
                    let args = self.pop(at)?;
                    let func = self.pop(at)?;
                    let obj = self.reduce(func, args, at)?;
                    self.push(obj);
                }
                // BUILD: only the state_dict's `_metadata` on an OrderedDict, which is ignored.
                b'b' => {
                    let _state = self.pop(at)?;
                    let target = self.peek(at)?;
                    if !matches!(self.objs[target], Obj::Dict(_)) {
                        return Err(format!(
                            "BUILD at byte {at} on {}: only a dict's attributes are accepted",
                            describe(&self.objs, target)
                        ));
                    }
                }
                // BINPERSID
                b'Q' => {
                    let pid = self.pop(at)?;
                    let s = self.persistent(pid, at)?;
                    self.push(Obj::Storage(s));
                }
                other => {
                    let shown = if other.is_ascii_graphic() {
                        format!(" ('{}')", other as char)
                    } else {
                        String::new()
                    };
                    return Err(format!(
                        "unsupported pickle opcode 0x{other:02x}{shown} at byte {at}: \
                         not one torch.save writes for a state_dict"
                    ));
                }
            }
        }
    }

    fn take(&mut self, n: usize) -> PickleResult<&[u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.data.len())
            .ok_or_else(|| {
                format!(
                    "the pickle ends early (needs {n} bytes at byte {}, has {})",
                    self.pos,
                    self.data.len() - self.pos
                )
            })?;
        let s = &self.data[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn take_u64(&mut self, n: u64) -> PickleResult<&[u8]> {
        let n = usize::try_from(n).map_err(|_| format!("a length of {n} bytes"))?;
        self.take(n)
    }

    fn u32(&mut self) -> PickleResult<u32> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> PickleResult<u64> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    fn line(&mut self, at: usize) -> PickleResult<String> {
        let rest = &self.data[self.pos..];
        let n = rest
            .iter()
            .take(256)
            .position(|&b| b == b'\n')
            .ok_or_else(|| format!("GLOBAL at byte {at}: no name line"))?;
        let s = std::str::from_utf8(&rest[..n])
            .map_err(|_| format!("GLOBAL at byte {at}: a name that is not UTF-8"))?
            .to_string();
        self.pos += n + 1;
        Ok(s)
    }

    fn string(&mut self, n: u64, at: usize) -> PickleResult<()> {
        let b = self.take_u64(n)?;
        let s = std::str::from_utf8(b)
            .map_err(|_| format!("a string at byte {at} is not UTF-8"))?
            .to_string();
        self.push(Obj::Str(s));
        Ok(())
    }

    fn long(&mut self, n: u64, at: usize) -> PickleResult<()> {
        if n > 8 {
            return Err(format!(
                "an integer of {n} bytes at byte {at} (at most 8 are read)"
            ));
        }
        let b = self.take_u64(n)?;
        let mut a = if b.last().is_some_and(|&x| x & 0x80 != 0) {
            [0xFFu8; 8]
        } else {
            [0u8; 8]
        };
        a[..b.len()].copy_from_slice(b);
        self.push(Obj::Int(i64::from_le_bytes(a)));
        Ok(())
    }

    fn push(&mut self, obj: Obj) {
        self.objs.push(obj);
        self.stack.push(Slot::Obj(self.objs.len() - 1));
    }

    fn pop(&mut self, at: usize) -> PickleResult<Id> {
        match self.stack.pop() {
            Some(Slot::Obj(id)) => Ok(id),
            Some(Slot::Mark) => Err(format!("a MARK where an object was needed at byte {at}")),
            None => Err(format!("stack underflow at byte {at}")),
        }
    }

    fn peek(&self, at: usize) -> PickleResult<Id> {
        match self.stack.last() {
            Some(Slot::Obj(id)) => Ok(*id),
            _ => Err(format!("no object on the stack at byte {at}")),
        }
    }

    fn pop_mark(&mut self, at: usize) -> PickleResult<Vec<Id>> {
        let mark = self
            .stack
            .iter()
            .rposition(|s| matches!(s, Slot::Mark))
            .ok_or_else(|| format!("no MARK on the stack at byte {at}"))?;
        let items = self
            .stack
            .drain(mark..)
            .skip(1)
            .filter_map(|s| match s {
                Slot::Obj(id) => Some(id),
                Slot::Mark => None,
            })
            .collect();
        Ok(items)
    }

    fn put(&mut self, i: u32, at: usize) -> PickleResult<()> {
        let id = self.peek(at)?;
        self.memo.insert(i, id);
        Ok(())
    }

    fn get(&mut self, i: u32, at: usize) -> PickleResult<()> {
        let id = *self
            .memo
            .get(&i)
            .ok_or_else(|| format!("memo entry {i} read at byte {at} was never stored"))?;
        self.stack.push(Slot::Obj(id));
        Ok(())
    }

    fn dict_mut(&mut self, id: Id, at: usize, op: &str) -> PickleResult<&mut Vec<(Id, Id)>> {
        let what = describe(&self.objs, id);
        match &mut self.objs[id] {
            Obj::Dict(d) => Ok(d),
            _ => Err(format!("{op} at byte {at} on {what}, not a dict")),
        }
    }

    fn list_mut(&mut self, id: Id, at: usize) -> PickleResult<&mut Vec<Id>> {
        let what = describe(&self.objs, id);
        match &mut self.objs[id] {
            Obj::List(l) => Ok(l),
            _ => Err(format!("APPEND at byte {at} on {what}, not a list")),
        }
    }

    /// Applies an allowed global to its argument tuple, building plain data only.
    fn reduce(&self, func: Id, args: Id, at: usize) -> PickleResult<Obj> {
        let Obj::Global(g) = self.objs[func] else {
            return Err(format!(
                "REDUCE at byte {at} calls {}, not a global",
                describe(&self.objs, func)
            ));
        };
        let Obj::Tuple(args) = &self.objs[args] else {
            return Err(format!(
                "REDUCE at byte {at}: the arguments of {} are not a tuple",
                g.name()
            ));
        };
        let bad = |what: &str| format!("REDUCE at byte {at}: {} with {what}", g.name());
        match g {
            Global::OrderedDict => {
                if !args.is_empty() {
                    return Err(bad("arguments (only an empty OrderedDict() is read)"));
                }
                Ok(Obj::Dict(Vec::new()))
            }
            Global::RebuildTensorV2 => {
                // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
                if !(6..=7).contains(&args.len()) {
                    return Err(bad(&format!("{} arguments (expected 6 or 7)", args.len())));
                }
                let Obj::Storage(storage) = &self.objs[args[0]] else {
                    return Err(bad("a first argument that is not a storage"));
                };
                let Obj::Int(offset) = self.objs[args[1]] else {
                    return Err(bad("a storage offset that is not an int"));
                };
                let size = self.int_tuple(args[2]).ok_or_else(|| bad("a bad size"))?;
                let stride = self.int_tuple(args[3]).ok_or_else(|| bad("a bad stride"))?;
                if size.len() != stride.len() {
                    return Err(bad("size and stride of different lengths"));
                }
                Ok(Obj::Tensor(TensorRef {
                    storage: storage.clone(),
                    offset,
                    size,
                    stride,
                }))
            }
            Global::RebuildParameter | Global::RebuildParameterWithState => {
                // (data, requires_grad, backward_hooks[, state])
                let n = if g == Global::RebuildParameter { 3 } else { 4 };
                if args.len() != n {
                    return Err(bad(&format!("{} arguments (expected {n})", args.len())));
                }
                match &self.objs[args[0]] {
                    Obj::Tensor(t) => Ok(Obj::Tensor(t.clone())),
                    _ => Err(bad("data that is not a tensor")),
                }
            }
            Global::Storage(_) => Err(bad("a call (storages are read from the zip)")),
        }
    }

    fn int_tuple(&self, id: Id) -> Option<Vec<i64>> {
        let Obj::Tuple(items) = &self.objs[id] else {
            return None;
        };
        items
            .iter()
            .map(|&i| match self.objs[i] {
                Obj::Int(v) => Some(v),
                _ => None,
            })
            .collect()
    }

    /// Reads a persistent id `('storage', torch.XStorage, key, location, numel)`.
    fn persistent(&self, pid: Id, at: usize) -> PickleResult<StorageRef> {
        let bad = || {
            format!(
                "BINPERSID at byte {at}: {} is not ('storage', type, key, location, numel)",
                describe(&self.objs, pid)
            )
        };
        let Obj::Tuple(items) = &self.objs[pid] else {
            return Err(bad());
        };
        let [tag, ty, key, _location, numel] = items.as_slice() else {
            return Err(bad());
        };
        match (
            &self.objs[*tag],
            &self.objs[*ty],
            &self.objs[*key],
            &self.objs[*numel],
        ) {
            (Obj::Str(t), Obj::Global(Global::Storage(dtype)), Obj::Str(key), Obj::Int(n))
                if t == "storage" =>
            {
                Ok(StorageRef {
                    key: key.clone(),
                    dtype: *dtype,
                    numel: *n,
                })
            }
            _ => Err(bad()),
        }
    }
}

/// Pairs up the items of SETITEMS or DICT.
fn pairs(items: Vec<Id>, at: usize) -> PickleResult<Vec<(Id, Id)>> {
    if !items.len().is_multiple_of(2) {
        return Err(format!(
            "an odd number of dict items ({}) at byte {at}",
            items.len()
        ));
    }
    Ok(items.chunks(2).map(|c| (c[0], c[1])).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `SHORT_BINUNICODE s` as bytes.
    fn s(text: &str) -> Vec<u8> {
        let mut v = vec![0x8c, text.len() as u8];
        v.extend_from_slice(text.as_bytes());
        v
    }

    fn cat(parts: &[&[u8]]) -> Vec<u8> {
        parts.concat()
    }

    fn check_err(bytes: &[u8], needle: &str) {
        let err = read_state_dict(bytes).expect_err("must be refused");
        assert!(err.contains(needle), "{err:?} lacks {needle:?}");
        assert!(!err.contains('\n'), "one line: {err:?}");
    }

    /// A one-tensor state_dict `{'w': tensor}` in protocol 4 (STACK_GLOBAL, MEMOIZE, BINGET),
    /// as `torch.save(sd, f, pickle_protocol=4)` writes it.
    fn one_tensor() -> Vec<u8> {
        cat(&[
            b"\x80\x04\x95\x00\x00\x00\x00\x00\x00\x00\x00",
            &s("collections"),
            b"\x94",
            &s("OrderedDict"),
            b"\x94\x93\x94)R\x94(", // memo 0, 1, STACK_GLOBAL as 2, OrderedDict() as 3
            &s("w"),
            b"\x94", // 4
            &s("torch._utils"),
            b"\x94",
            &s("_rebuild_tensor_v2"),
            b"\x94\x93\x94((", // 5, 6, global as 7
            &s("storage"),
            b"\x94",
            &s("torch"),
            b"\x94",
            &s("HalfStorage"),
            b"\x94\x93\x94", // 8..11
            &s("0"),
            b"\x94",
            &s("cpu"),
            b"\x94K\x06t\x94Q", // numel 6, pid tuple, BINPERSID
            b"K\x01",           // offset 1
            b"K\x02K\x02\x86",  // size (2, 2)
            b"K\x01K\x02\x86",  // stride (1, 2)
            b"\x89h\x02)R",     // requires_grad False, BINGET 2 → OrderedDict()
            b"t\x94R\x94u.",
        ])
    }

    #[test]
    fn reads_a_protocol_4_tensor_with_memo() {
        let sd = read_state_dict(&one_tensor()).expect("read");
        assert_eq!(
            sd,
            vec![(
                "w".to_string(),
                TensorRef {
                    storage: StorageRef {
                        key: "0".into(),
                        dtype: StorageDtype::F16,
                        numel: 6
                    },
                    offset: 1,
                    size: vec![2, 2],
                    stride: vec![1, 2],
                }
            )]
        );
    }

    #[test]
    fn a_memoized_dict_is_seen_filled() {
        // A dict memoized while empty and filled afterwards (the order pickle writes) reads back
        // filled through BINGET: EMPTY_DICT, BINPUT 0, MARK 'k' 7 SETITEMS, POP, BINGET 0.
        let bytes = cat(&[b"\x80\x02}q\x00(", &s("k"), b"K\x07u0h\x00."]);
        let p = unpickle(&bytes).expect("read");
        let Obj::Dict(d) = &p.objs[p.root] else {
            panic!("not a dict")
        };
        assert_eq!(d.len(), 1);
        assert!(matches!(p.objs[d[0].1], Obj::Int(7)));
    }

    #[test]
    fn refuses_globals_outside_the_allowlist() {
        check_err(b"\x80\x02cposix\nsystem\n.", "posix.system");
        check_err(
            &cat(&[b"\x80\x04", &s("builtins"), &s("eval"), b"\x93."]),
            "builtins.eval",
        );
        check_err(b"\x80\x02c__builtin__\ngetattr\n.", "__builtin__.getattr");
        check_err(b"\x80\x02ctorch\nload\n.", "torch.load");
    }

    #[test]
    fn refuses_unknown_opcodes_and_bad_streams() {
        // INST ('i') builds an arbitrary object: refused by byte and offset.
        check_err(b"\x80\x02}i", "opcode 0x69 ('i') at byte 3");
        check_err(b"\x80\x02}", "ends early");
        check_err(b"\x80\x06}.", "protocol 6");
        check_err(b"\x80\x02h\x05.", "memo entry 5");
        check_err(b"\x80\x02K\x01.", "an int (1), not a state_dict");
        check_err(
            &cat(&[b"\x80\x02}", &s("step"), b"K\x07s."]),
            "entry step is an int (7)",
        );
        check_err(
            &cat(&[b"\x80\x02}", &s("model"), b"}s."]),
            "entry model is a dict",
        );
        // Calling a storage type is not a way to build data.
        check_err(
            b"\x80\x02ctorch\nFloatStorage\n)R.",
            "torch.FloatStorage with a call",
        );
    }

    #[test]
    fn reads_long_and_negative_ints() {
        let p = unpickle(b"\x80\x02\x8a\x02\xff\x7f.").expect("read");
        assert!(matches!(p.objs[p.root], Obj::Int(32767)));
        let p = unpickle(b"\x80\x02\x8a\x01\xff.").expect("read");
        assert!(matches!(p.objs[p.root], Obj::Int(-1)));
        let p = unpickle(b"\x80\x02J\xfe\xff\xff\xff.").expect("read");
        assert!(matches!(p.objs[p.root], Obj::Int(-2)));
        check_err(
            b"\x80\x02\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\x01.",
            "9 bytes",
        );
    }
}
