Write-Host "hello"
$x = 1
