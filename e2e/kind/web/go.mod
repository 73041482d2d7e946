module ferrolb.local/kind-web

go 1.22
