from bench.propagate.run import main

main()
