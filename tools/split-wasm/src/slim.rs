//! Slims a chunk the splitter wrote: it keeps only the function types the chunk uses and
//! drops its custom sections (an empty name map and the producers note).
//!
//! `wasm_split_cli_support` copies the whole type section of the app (about 560 bytes, some
//! 75 signatures) into every chunk. Most chunks are a few hundred bytes of code or data, and a
//! page loads about a hundred of them, each compressed on its own, so the copies were the
//! larger part of many chunks.

use std::collections::{BTreeSet, HashMap};

use wasm_encoder::reencode::{self, Reencode};

/// The chunk with unused types and custom sections removed; `None` when the chunk uses a
/// type feature this pass does not rewrite (explicit recursion groups), so the caller keeps
/// the chunk as it is. A kept type that names another type (typed function references, which
/// rustc does not emit) is an error rather than a guess, so the build stops and says so.
pub fn slim(chunk: &[u8]) -> Result<Option<Vec<u8>>, String> {
    let mut uses = TypeUses::default();
    let mut scratch = wasm_encoder::Module::new();
    uses.parse_core_module(&mut scratch, wasmparser::Parser::new(0), chunk)
        .map_err(|e| format!("reading the chunk: {e}"))?;
    if uses.explicit_rec_group {
        return Ok(None);
    }
    let renumber: HashMap<u32, u32> = uses
        .used
        .iter()
        .enumerate()
        .map(|(new, &old)| (old, new as u32))
        .collect();
    let mut rewrite = Renumber { renumber };
    let mut slimmed = wasm_encoder::Module::new();
    rewrite
        .parse_core_module(&mut slimmed, wasmparser::Parser::new(0), chunk)
        .map_err(|e| format!("rewriting the chunk: {e}"))?;
    let bytes = slimmed.finish();
    wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all())
        .validate_all(&bytes)
        .map_err(|e| format!("the slimmed chunk does not validate: {e}"))?;
    Ok(Some(bytes))
}

/// First pass: every type index the chunk's imports, functions and code refer to. The type
/// section itself is skipped, so a type counts only when something outside it uses it.
#[derive(Default)]
struct TypeUses {
    used: BTreeSet<u32>,
    explicit_rec_group: bool,
}

impl Reencode for TypeUses {
    type Error = std::convert::Infallible;

    fn type_index(&mut self, ty: u32) -> Result<u32, reencode::Error<Self::Error>> {
        self.used.insert(ty);
        Ok(ty)
    }

    fn parse_type_section(
        &mut self,
        _types: &mut wasm_encoder::TypeSection,
        section: wasmparser::TypeSectionReader<'_>,
    ) -> Result<(), reencode::Error<Self::Error>> {
        for group in section {
            self.explicit_rec_group |= group?.is_explicit_rec_group();
        }
        Ok(())
    }
}

/// Second pass: the used types in their old order, every reference renumbered, no custom
/// sections.
struct Renumber {
    renumber: HashMap<u32, u32>,
}

impl Reencode for Renumber {
    type Error = String;

    fn type_index(&mut self, ty: u32) -> Result<u32, reencode::Error<Self::Error>> {
        self.renumber
            .get(&ty)
            .copied()
            .ok_or_else(|| reencode::Error::UserError(format!("type {ty} was not counted as used")))
    }

    fn parse_type_section(
        &mut self,
        types: &mut wasm_encoder::TypeSection,
        section: wasmparser::TypeSectionReader<'_>,
    ) -> Result<(), reencode::Error<Self::Error>> {
        for (index, group) in (0u32..).zip(section) {
            let group = group?;
            if self.renumber.contains_key(&index) {
                self.parse_recursive_type_group(types.ty(), group)?;
            }
        }
        Ok(())
    }

    fn parse_custom_section(
        &mut self,
        _module: &mut wasm_encoder::Module,
        _section: wasmparser::CustomSectionReader<'_>,
    ) -> Result<(), reencode::Error<Self::Error>> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_encoder::{
        CodeSection, ElementSection, Elements, ExportKind, ExportSection, Function,
        FunctionSection, ImportSection, Instruction, MemoryType, Module, RefType, TableType,
        TypeSection, ValType,
    };

    /// A chunk shaped like the splitter's: five types, of which the code uses two (one for
    /// its function, one through `call_indirect`), a shared memory and table, an export and a
    /// table entry, and a name section.
    fn chunk() -> Vec<u8> {
        let mut module = Module::new();
        let mut types = TypeSection::new();
        types.ty().function([], []); // 0: unused
        types.ty().function([ValType::I32], [ValType::I32]); // 1: the function
        types.ty().function([ValType::I64], []); // 2: unused
        types.ty().function([ValType::I32, ValType::I32], []); // 3: called indirectly
        types.ty().function([ValType::F64], [ValType::F64]); // 4: unused
        module.section(&types);
        let mut imports = ImportSection::new();
        imports.import(
            "__wasm_split",
            "memory",
            MemoryType {
                minimum: 1,
                maximum: None,
                memory64: false,
                shared: false,
                page_size_log2: None,
            },
        );
        imports.import(
            "__wasm_split",
            "__indirect_function_table",
            TableType {
                element_type: RefType::FUNCREF,
                minimum: 4,
                maximum: None,
                table64: false,
                shared: false,
            },
        );
        module.section(&imports);
        let mut functions = FunctionSection::new();
        functions.function(1);
        module.section(&functions);
        let mut exports = ExportSection::new();
        exports.export("entry", ExportKind::Func, 0);
        module.section(&exports);
        let mut elements = ElementSection::new();
        elements.active(
            Some(0),
            &wasm_encoder::ConstExpr::i32_const(2),
            Elements::Functions(std::borrow::Cow::Borrowed(&[0])),
        );
        module.section(&elements);
        let mut code = CodeSection::new();
        let mut body = Function::new([]);
        body.instruction(&Instruction::LocalGet(0))
            .instruction(&Instruction::LocalGet(0))
            .instruction(&Instruction::I32Const(1))
            .instruction(&Instruction::CallIndirect {
                type_index: 3,
                table_index: 0,
            })
            .instruction(&Instruction::LocalGet(0))
            .instruction(&Instruction::End);
        code.function(&body);
        module.section(&code);
        let mut names = wasm_encoder::NameSection::new();
        let mut functions = wasm_encoder::NameMap::new();
        functions.append(0, "entry");
        names.functions(&functions);
        module.section(&names);
        module.finish()
    }

    fn signatures(wasm: &[u8]) -> Vec<String> {
        let mut out = Vec::new();
        for payload in wasmparser::Parser::new(0).parse_all(wasm) {
            if let Ok(wasmparser::Payload::TypeSection(reader)) = payload {
                for group in reader {
                    let group = group.expect("a type");
                    for ty in group.types() {
                        if let wasmparser::CompositeInnerType::Func(f) = &ty.composite_type.inner {
                            out.push(f.to_string());
                        }
                    }
                }
            }
        }
        out
    }

    fn custom_sections(wasm: &[u8]) -> usize {
        wasmparser::Parser::new(0)
            .parse_all(wasm)
            .filter(|p| matches!(p, Ok(wasmparser::Payload::CustomSection(_))))
            .count()
    }

    #[test]
    fn only_the_types_the_code_uses_are_kept_and_renumbered() {
        let before = chunk();
        assert_eq!(signatures(&before).len(), 5);
        assert_eq!(custom_sections(&before), 1);
        let after = slim(&before).expect("slims").expect("no rec groups");
        assert_eq!(
            signatures(&after),
            ["(func (param i32) (result i32))", "(func (param i32 i32))"],
            "the function's type and the call_indirect's, in their old order"
        );
        assert_eq!(custom_sections(&after), 0);
        assert!(after.len() < before.len());
        // The call_indirect now names the second kept type.
        let mut saw = false;
        for payload in wasmparser::Parser::new(0).parse_all(&after) {
            if let Ok(wasmparser::Payload::CodeSectionEntry(body)) = payload {
                for op in body.get_operators_reader().expect("code") {
                    if let Ok(wasmparser::Operator::CallIndirect { type_index, .. }) = op {
                        assert_eq!(type_index, 1);
                        saw = true;
                    }
                }
            }
        }
        assert!(saw, "the call_indirect survived");
    }

    #[test]
    fn a_chunk_that_is_not_wasm_is_refused() {
        assert!(slim(b"\0asm\x01\0\0\0\x01\xff").is_err());
    }
}
