# Helpers that compile C and WAT sources into .wasm modules with clang/wasm-ld and wat2wasm.
# Modules land in ${CMAKE_BINARY_DIR}/wasm/NAME.wasm and are grouped under the target velum_wasm.
find_program(VELUM_WASM_CLANG NAMES clang-14 clang REQUIRED)
find_program(VELUM_WAT2WASM wat2wasm REQUIRED)
# 64-bit arithmetic may lower to compiler-rt helpers (__multi3); link them when present.
file(GLOB VELUM_WASM_BUILTINS /usr/lib/llvm-14/lib/clang/*/lib/wasi/libclang_rt.builtins-wasm32.a)
set(VELUM_WASM_DIR ${CMAKE_BINARY_DIR}/wasm)
file(MAKE_DIRECTORY ${VELUM_WASM_DIR})
add_custom_target(velum_wasm ALL)

# velum_add_wasm(NAME SOURCE [MULTIVALUE] [DEPENDS headers...]): C -> wasm32, every function
# exported. MULTIVALUE: a function returning a struct of scalars returns them as Wasm results
# (clang's experimental multi-value ABI); compiler-rt is not linked then (its ABI differs), so
# the source must avoid 128-bit arithmetic (divisions by constants among it).
function(velum_add_wasm name source)
  cmake_parse_arguments(ARG "MULTIVALUE" "" "DEPENDS" ${ARGN})
  set(out ${VELUM_WASM_DIR}/${name}.wasm)
  set(abi ${VELUM_WASM_BUILTINS})
  if(ARG_MULTIVALUE)
    set(abi -mmultivalue -Xclang -target-abi -Xclang experimental-mv)
  endif()
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${VELUM_WASM_CLANG} --target=wasm32 -O3 -nostdlib -Wl,--no-entry -Wl,--export-all
            -o ${out} ${source} ${abi}
    DEPENDS ${source} ${ARG_DEPENDS}
    COMMENT "wasm32 ${name}.wasm")
  add_custom_target(wasm_${name} DEPENDS ${out})
  add_dependencies(velum_wasm wasm_${name})
endfunction()

# velum_add_wasi(NAME SOURCE [REACTOR]): a program -> a WASI command (wasm32-wasi; it exports
# _start), by SOURCE's language: C (wasi-libc), C++ (Debian's libc++ for wasm32) or Rust (std,
# with Debian's /usr/bin/rustc: a rustup rustc earlier on PATH has no wasm32-wasi std of
# Debian's). REACTOR (C only): a library of exports and no main (-mexec-model=reactor), such
# as range exports that printf and malloc for `scatter`.
find_program(VELUM_WASM_CLANGXX NAMES clang++-14 clang++ REQUIRED)
set(VELUM_RUSTC /usr/bin/rustc)
function(velum_add_wasi name source)
  cmake_parse_arguments(ARG "REACTOR" "" "" ${ARGN})
  set(out ${VELUM_WASM_DIR}/${name}.wasm)
  if(ARG_REACTOR)
    set(compile ${VELUM_WASM_CLANG} --target=wasm32-wasi -O2 -mexec-model=reactor -o ${out}
                ${source})
  elseif(source MATCHES "\\.rs$")
    set(compile ${VELUM_RUSTC} --target wasm32-wasi -O -C strip=symbols -o ${out} ${source})
  elseif(source MATCHES "\\.(cc|cpp)$")
    set(compile ${VELUM_WASM_CLANGXX} --target=wasm32-wasi -O2 -fno-exceptions -Wl,--strip-all
                -o ${out} ${source})
  else()
    set(compile ${VELUM_WASM_CLANG} --target=wasm32-wasi -O2 -o ${out} ${source})
  endif()
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${compile}
    DEPENDS ${source}
    COMMENT "wasm32-wasi ${name}.wasm")
  add_custom_target(wasm_${name} DEPENDS ${out})
  add_dependencies(velum_wasm wasm_${name})
endfunction()

# velum_add_wat(NAME SOURCE): WebAssembly text -> binary.
function(velum_add_wat name source)
  set(out ${VELUM_WASM_DIR}/${name}.wasm)
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${VELUM_WAT2WASM} ${source} -o ${out}
    DEPENDS ${source}
    COMMENT "wat2wasm ${name}.wasm")
  add_custom_target(wasm_${name} DEPENDS ${out})
  add_dependencies(velum_wasm wasm_${name})
endfunction()

# velum_add_rust_wasm(NAME SOURCE): a Rust crate (one root file, crate-type cdylib) ->
# wasm32-unknown-unknown, built by Debian's rustc only: a rustup toolchain earlier on PATH is
# not a declared dependency, so the compiler is looked up in /usr/bin and nowhere else.
function(velum_add_rust_wasm name source)
  if(NOT VELUM_RUSTC)
    find_program(VELUM_RUSTC rustc PATHS /usr/bin NO_DEFAULT_PATH
                 DOC "Debian's rustc (package rustc), for examples/rust")
  endif()
  if(NOT VELUM_RUSTC)
    message(FATAL_ERROR "velum_add_rust_wasm(${name}): /usr/bin/rustc not found; run "
                        "scripts/install-deps (Debian packages rustc, libstd-rust-dev-wasm32)")
  endif()
  if(NOT VELUM_RUSTC_WASM32_CORE)
    execute_process(COMMAND ${VELUM_RUSTC} --print target-libdir --target wasm32-unknown-unknown
                    OUTPUT_VARIABLE _libdir OUTPUT_STRIP_TRAILING_WHITESPACE
                    RESULT_VARIABLE _rc ERROR_QUIET)
    set(_core)
    if(_rc EQUAL 0)
      file(GLOB _core ${_libdir}/libcore-*.rlib)
    endif()
    if(NOT _core)
      message(FATAL_ERROR "velum_add_rust_wasm(${name}): ${VELUM_RUSTC} has no wasm32-unknown-"
                          "unknown standard library; run scripts/install-deps (Debian package "
                          "libstd-rust-dev-wasm32)")
    endif()
    # Only a success is cached, so installing the package later needs no cache surgery.
    list(GET _core 0 _core)
    set(VELUM_RUSTC_WASM32_CORE ${_core} CACHE INTERNAL "libcore of rustc's wasm32 target")
  endif()
  set(out ${VELUM_WASM_DIR}/${name}.wasm)
  # rustc names the outputs NAME.wasm and NAME.d in --out-dir; the dep-info lists the crate's
  # module files, so an edit to any of them rebuilds it.
  add_custom_command(
    OUTPUT ${out}
    BYPRODUCTS ${VELUM_WASM_DIR}/${name}.d
    COMMAND ${VELUM_RUSTC} --target wasm32-unknown-unknown --crate-type cdylib --edition 2021
            -O -C panic=abort -C strip=debuginfo --crate-name ${name} --emit link,dep-info
            --out-dir ${VELUM_WASM_DIR} ${source}
    DEPENDS ${source} ${VELUM_RUSTC}
    DEPFILE ${VELUM_WASM_DIR}/${name}.d
    COMMENT "rustc wasm32 ${name}.wasm"
    VERBATIM)
  add_custom_target(wasm_${name} DEPENDS ${out})
  add_dependencies(velum_wasm wasm_${name})
endfunction()
