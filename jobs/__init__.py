"""What the scheduler runs and the engines behind it. Jobs read and write storage and call the
gateways in server/; they never touch HTTP requests.
"""
