//! `#[sluice_workflow::main]`: marks the function the host runs as the workflow's `call` export.
//!
//! Written without syn/quote (no registry on the build machines): the attribute only needs the
//! function's name, which follows the `fn` keyword at the top level of the item.

use proc_macro::{Delimiter, TokenStream, TokenTree};

#[proc_macro_attribute]
pub fn main(attribute: TokenStream, item: TokenStream) -> TokenStream {
    if !attribute.is_empty() {
        return compile_error("#[sluice_workflow::main] takes no arguments");
    }
    let name = match function_name(&item) {
        Some(name) => name,
        None => return compile_error("#[sluice_workflow::main] goes on a function: fn main() { ... }"),
    };
    // `call` is the export the host runs; the user's function keeps its own name and body.
    let entry = format!(
        "#[no_mangle] pub extern \"C\" fn call() {{ \
           ::sluice_workflow::__private::run_main({name}); \
         }}"
    );
    let mut output = item;
    output.extend(entry.parse::<TokenStream>().expect("generated entry point parses"));
    output
}

/// The identifier after the first top-level `fn`, unless the item takes parameters or is
/// generic (the host passes nothing to `call`).
fn function_name(item: &TokenStream) -> Option<String> {
    let mut tokens = item.clone().into_iter();
    while let Some(token) = tokens.next() {
        if let TokenTree::Ident(ident) = &token {
            if ident.to_string() == "fn" {
                let name = match tokens.next()? {
                    TokenTree::Ident(name) => name.to_string(),
                    _ => return None,
                };
                return match tokens.next()? {
                    TokenTree::Group(group) if group.delimiter() == Delimiter::Parenthesis && group.stream().is_empty() => Some(name),
                    _ => None,
                };
            }
        }
    }
    None
}

fn compile_error(message: &str) -> TokenStream {
    format!("::core::compile_error!({:?});", message).parse().expect("compile_error! parses")
}
