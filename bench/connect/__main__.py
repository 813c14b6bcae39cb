from bench.connect.run import main

main()
