//! Runs the classifier in a loop for profilers (valgrind --tool=callgrind, perf).
//! cargo run --release --example profile_classify -- [ITERATIONS]
fn main() {
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(2000);
    let c = triage::Classifier::load(None).expect("built-in pack");
    let msgs = [
        "Hi all, we created a new appKey for the ERP integration this morning and every call to the orders API comes back 403. Does the key need to be linked to a role first? Thanks in advance!",
        "Bom dia pessoal! Nossa chave de API está num perfil, consigo ler o catálogo sem problema mas quando tento alterar preço dá acesso negado. Qual recurso falta no perfil da appKey?",
        "Hola, copié el appToken desde un PDF y creo que se coló un salto de línea o un espacio al final, la API responde 401 no autorizado en todas las llamadas. ¿Puede ser eso?",
        "Good morning everyone! Does anyone know how to change the checkout button colour in the store theme? I tried the CMS but could not find the setting anywhere, thanks a lot.",
    ];
    let mut found = 0;
    for _ in 0..n {
        for m in &msgs {
            found += c.classify(m).rules.len();
        }
    }
    println!("{found}");
}
