"""The seed's chat server: the small Python program ("TCP-Chat-Room" by Kayque
Moreira) this project grew from, kept as it was, as the baseline for
`chat bench --dialect seed`.

Its behaviour is the seed's, bugs included: it sends `alias?`, takes one
recv(1024) as the alias, broadcasts every chunk it receives, raw, with no framing,
to every client from one thread per client, and announces joins and leaves in
Portuguese (`b'NICK' esta conectado ao chat`: the alias is bytes, so Python
prints its repr). A client that closes makes recv() return b'' for ever, so its
thread then broadcasts empty chunks in a busy loop: restart the server between
runs.

Two changes, both outside its behaviour: the port is the first argument
(default 55555, 0 picks a free one), and one line `listening on HOST:PORT` is
printed at start so a script can learn the port.

Usage: python3 bench/seed_server.py [PORT]
"""

import socket
import sys
import threading

# setando o host ip e a porta http para o servidor rodar
host = '127.0.0.1'
port = int(sys.argv[1]) if len(sys.argv) > 1 else 55555

# criando um servidor objeto
server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
# ligando(bind) o servidor ao host e a porta
server.bind((host, port))
# ativar o modo de escuta para todas as conexões de entrada para o servidor
server.listen()
print(f'listening on {host}:{server.getsockname()[1]}', flush=True)

clients = []
aliases = []


# Funcao que manda mensagem do servidor para todos clientes conectados
def broadcast(msg):
    # iremos iterar através da lista de clientes, e para cada cliente enviamos esta mensagem
    for client in clients:
        client.send(msg)


# Funcao para cuidar de cada conexao de cada cliente
def handle_client(client):
    while True:
        try:  # mensagem vai ser igual a mensagem recebida do cliente
            msg = client.recv(1024)
            broadcast(msg)
        except:
            # o index vai achar a tupla no nosso caso o cliente
            index = clients.index(client)
            # remocao do cliente da lista de clientes
            clients.remove(client)
            # encerra a conexao do cliente com o servidor
            client.close()
            # fazendo a mesma coisa para o apelido do cliente
            alias = aliases[index]
            # avisa ao servidor que o cliente de tal nickname acabou de sair do servidor
            broadcast(f'{alias} acabou de sair do chat!'.encode('utf-8'))
            # remove o nick da lista de nicks
            aliases.remove(alias)
            # quebra o loop
            break


# Funcao principal para receber a conexao dos clientes
def receive():
    while True:
        print('Servidor esta rodando ...')
        client, address = server.accept()
        print(f'conexao estabelecida com {str(address)}')
        client.send('alias?'.encode('utf-8'))
        alias = client.recv(1024)
        # acrescentando o apelido a lista de apelidos
        aliases.append(alias)
        # acrescentando o cliente a lista de clientes
        clients.append(client)
        # mostrar mensangem retornando ao cliente qual eh o apelido dele
        print(f'O apelido dele eh  {alias}'.encode('utf-8'))
        # usar a funcao broadcast para mostrar a todos os clientes online que esse cliente entrou no chat room
        broadcast(f'{alias} esta conectado ao chat'.encode('utf-8'))
        # mandar uma mensagem do servidor para esse cliente falando que agora ele esta conectado
        client.send('Voce esta conectado ao servidor!'.encode('utf-8'))

        thread = threading.Thread(target=handle_client, args=(client,))
        thread.start()


if __name__ == "__main__":
    receive()
