Write-Host "Grüße ☃ 😀"
$x = 1
