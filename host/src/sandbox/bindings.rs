//! The one `bindgen!` site over `wit/`.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "recipe",
    imports: { default: trappable },
    additional_derives: [serde::Serialize],
    trappable_error_type: {
        "rootwasm:recipe/types.error" => crate::session::SessionError,
    },
});
