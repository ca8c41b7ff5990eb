//! Classification throughput on realistic ~200-byte support messages, single-threaded.
//! `cargo bench --bench classify`; messages/second = elements/s in criterion's report.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use triage::Classifier;

fn messages() -> Vec<String> {
    let base = [
        "Hi all, we created a new appKey for the ERP integration this morning and every call to the orders API comes back 403. Does the key need to be linked to a role first? Thanks in advance!",
        "Bom dia pessoal! Nossa chave de API está num perfil, consigo ler o catálogo sem problema mas quando tento alterar preço dá acesso negado. Qual recurso falta no perfil da appKey?",
        "Hola, copié el appToken desde un PDF y creo que se coló un salto de línea o un espacio al final, la API responde 401 no autorizado en todas las llamadas. ¿Puede ser eso?",
        "I'm an admin on our account but the Generate key button is missing on the Application Keys page. Our Sponsor user is on vacation until next month, who else can create keys?",
        "We never saved the appToken when the key was created last year and now the developer who set it up is gone. Can support resend it or can we see it again somewhere?",
        "Good morning everyone! Does anyone know how to change the checkout button colour in the store theme? I tried the CMS but could not find the setting anywhere, thanks a lot.",
        "¿Alguien sabe cómo configurar el envío gratis para pedidos de más de 100 pesos? Ya revisé la logística pero no encuentro dónde se pone la regla de precio mínimo.",
        "curl -H 'X-VTEX-API-AppKey: vtexappkey-acme-QWERTY' -H 'X-VTEX-API-AppToken: RDLSBQGBCNNCHCRNBSDHUUSBSSMBHBREJNERDSJRVFDSSUGLDRWCSBTGPVRNYKOSOLJHZFWYHCSJQPKXOJTCDQNFYKEPNBVCYRSZKKWLTPSZOCCIPWVCBXWJUSVOJWMV' gives 401",
    ];
    base.iter().map(|s| s.to_string()).collect()
}

fn bench(c: &mut Criterion) {
    let classifier = Classifier::load(None).expect("built-in pack");
    let msgs = messages();
    let mut group = c.benchmark_group("classify");
    group.throughput(Throughput::Elements(msgs.len() as u64));
    group.bench_function("mixed_200_byte_messages", |b| {
        b.iter(|| {
            for m in &msgs {
                black_box(classifier.classify(black_box(m)));
            }
        })
    });
    // A helpdesk reply: new text, then the quoted thread below a reply header (src/quoted.rs).
    let ticket = format!(
        "Hello,\n\nStill getting 401 from the orders API after removing the spaces. Any other idea?\n\nRegards,\nAnna\n\nOn Mon, Nov 28, 2026 at 10:00 AM Support <support@acme.com> wrote:\n{}",
        msgs.iter().map(|m| format!("> {m}")).collect::<Vec<_>>().join("\n>\n")
    );
    group.throughput(Throughput::Elements(1));
    group.bench_function("email_reply_with_quoted_thread", |b| b.iter(|| black_box(classifier.classify(black_box(&ticket)))));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
