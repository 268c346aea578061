import KlammerStore
print("klammer-store-crashtest: not implemented yet (format \(KlammerStoreInfo.formatVersion))")
