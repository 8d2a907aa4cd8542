"""Does nothing for a while; runs under every Python, 2.7 included. usage: idle.py [SECS]"""
import sys
import time

sys.stdout.write("ready\n")
sys.stdout.flush()
time.sleep(float(sys.argv[1]) if len(sys.argv) > 1 else 30)
