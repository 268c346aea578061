import KlammerStore
print("klammer-store-bench: not implemented yet (format \(KlammerStoreInfo.formatVersion))")
