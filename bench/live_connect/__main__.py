from bench.live_connect.run import main

main()
