from bench.events.run import main

main()
