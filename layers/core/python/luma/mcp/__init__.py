"""An assistant's tools served over the Model Context Protocol."""
