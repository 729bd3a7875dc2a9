import NIOCore
import AsyncHTTPClient
import Histogram
print("bench")
