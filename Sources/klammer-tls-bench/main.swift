import KlammerTLS
print("klammer-tls-bench: not implemented yet (ALPN \(klammerALPN))")
