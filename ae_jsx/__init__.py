"""After Effects scripts: the ScriptUI panel and the ES3 runtime of exported .jsx files."""
