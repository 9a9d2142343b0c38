"""Support code shared by the tests: readers, fakes and harnesses (no tests here)."""
